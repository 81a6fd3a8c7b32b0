"""A small threaded HTTP server on loopback that the local world's protocol servers build on.

Each server subclasses :class:`LoopbackServer` and implements :meth:`route`. The base adds
what the fault matrix needs, switchable at run time through ``server.faults``:

- ``latency_s``: sleep before answering (slow);
- ``mode``: ``ok`` | ``down`` (close the connection with no response) | ``error`` (HTTP 503)
  | ``ratelimit`` (HTTP 429 with Retry-After) | ``flaky`` (every ``flaky_every``-th request
  fails with 503, deterministically) | ``truncate`` (announce the full length, send half) |
  ``drip`` (send the body a few bytes at a time, ``drip_delay_s`` apart);
- counters: ``requests`` (by path prefix) and ``bytes_sent`` for benchmarks and tests.

Servers bind to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: object, status: int = 200) -> Response:
        import json

        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


@dataclass
class Faults:
    mode: str = "ok"
    latency_s: float = 0.0
    flaky_every: int = 2
    retry_after_s: float = 1.0
    drip_delay_s: float = 0.05

    def reset(self) -> None:
        self.mode, self.latency_s = "ok", 0.0


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else delayed ACKs cost ~40 ms a request on loopback

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
        owner._count(request)
        faults = owner.faults
        if faults.latency_s:
            time.sleep(faults.latency_s)
        injected = owner._injected_response(faults)
        if injected == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        response = injected or owner.route(request)
        self._write(response, faults, head_only=self.command == "HEAD")

    def _write(self, response: Response, faults: Faults, head_only: bool) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if head_only:
            return
        body = response.body
        if faults.mode == "truncate" and body:
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        if faults.mode == "drip":
            for start in range(0, len(body), 16):
                self.wfile.write(body[start : start + 16])
                self.wfile.flush()
                time.sleep(faults.drip_delay_s)
        else:
            self.wfile.write(body)
        self.server.owner._add_bytes(len(body))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: LoopbackServer

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away (timeouts, injected drops): not the server's error
        super().handle_error(request, client_address)


class LoopbackServer:
    """Base class: subclasses implement ``route(request) -> Response``."""

    name = "server"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.faults = Faults()
        self.requests: Counter[str] = Counter()
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._flaky_counter = 0
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- to implement ----------------------------------------------------------------------
    def route(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- bookkeeping -----------------------------------------------------------------------
    def _count(self, request: Request) -> None:
        key = f"{request.method} {'/'.join(request.path.split('/')[:3])}"
        with self._lock:
            self.requests[key] += 1

    def _add_bytes(self, n: int) -> None:
        with self._lock:
            self.bytes_sent += n

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bytes_sent = 0

    def _injected_response(self, faults: Faults) -> Response | str | None:
        mode = faults.mode
        if mode == "down":
            return "drop"
        if mode == "error":
            return Response(503, b"injected outage", {"Content-Type": "text/plain"})
        if mode == "ratelimit":
            return Response(429, b"rate limited", {"Retry-After": f"{faults.retry_after_s:g}"})
        if mode == "flaky":
            with self._lock:
                self._flaky_counter += 1
                fail = self._flaky_counter % max(faults.flaky_every, 1) == 0
            if fail:
                return Response(503, b"injected flake", {"Content-Type": "text/plain"})
        return None
