"""The bench world's control endpoint (loopback JSON): counters, request logs and resets.

The world runs in its own process (so the servers never share a GIL with the process measured);
the runner asks it, between measurements, through this small server:

- ``GET /stats``: per server, requests by ``METHOD /kind``, body bytes sent, Solana calls by method;
- ``GET /times?server=solana``: the monotonic times of that server's logged requests;
- ``POST /reset``: zero every counter and log;
- ``POST /latency`` ``{"server": seconds}``: change injected latency (``*`` for every server).
"""

from __future__ import annotations

import json

from reconcile_pipeline.sandbox.httpserver import LoopbackServer, Request, Response

from .counters import RequestLog, summarise


class ControlServer(LoopbackServer):
    name = "bench-control"

    def __init__(self, servers: dict[str, LoopbackServer], logs: dict[str, RequestLog]) -> None:
        super().__init__()
        self.servers, self.logs = servers, logs

    def route(self, request: Request) -> Response:
        if request.method == "GET" and request.path == "/stats":
            return Response.json(self.stats())
        if request.method == "GET" and request.path == "/times":
            log = self.logs.get(request.arg("server", "") or "")
            return Response.json([t for t, _, _ in log.snapshot()] if log else [], 200 if log else 404)
        if request.method == "POST" and request.path == "/reset":
            self.reset()
            return Response.json({"reset": True})
        if request.method == "POST" and request.path == "/latency":
            changes = json.loads(request.body or b"{}")
            for name, server in self.servers.items():
                if name in changes or "*" in changes:
                    server.faults.latency_s = float(changes.get(name, changes.get("*")))
            return Response.json({name: server.faults.latency_s for name, server in self.servers.items()})
        return Response(404, b"unknown control path")

    def stats(self) -> dict:
        out = {}
        for name, server in self.servers.items():
            entries = self.logs[name].snapshot()
            out[name] = {
                "requests": len(entries),
                "by_kind": summarise(entries),
                "bytes_sent": server.bytes_sent,
                "latency_s": server.faults.latency_s,
            }
            if hasattr(server, "method_counts"):
                out[name]["rpc_calls"] = dict(server.method_counts)
        return out

    def reset(self) -> None:
        for name, server in self.servers.items():
            server.reset_counters()
            self.logs[name].clear()
