"""A loopback reverse proxy with the base server's faults, for servers that have none of their own.

``FaultProxy(upstream_url).start()`` forwards every request (method, path, query, headers, body)
to ``upstream_url`` and relays the answer; its ``faults`` (:mod:`.httpserver`) then apply between
the client and the upstream. The local world uses it in front of moto's S3 server so R2 can be
made slow, down, 5xx, rate-limited, truncated or dripping like every other layer. Signatures stay
valid: the Host header is relayed as the client sent it (moto does not check them anyway).
"""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from .httpserver import LoopbackServer, Request, Response

__all__ = ["FaultProxy"]

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)


class FaultProxy(LoopbackServer):
    """Forwards to ``upstream`` (an ``http://host:port`` URL)."""

    name = "fault-proxy"

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 30.0) -> None:
        super().__init__(host, port)
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http://host:port URL, not {upstream!r}")
        self.upstream = (parts.hostname, parts.port or 80)
        self.timeout_s = timeout_s

    def route(self, request: Request) -> Response:
        target = request.path + (f"?{request.raw_query}" if request.raw_query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        connection = http.client.HTTPConnection(*self.upstream, timeout=self.timeout_s)
        try:
            connection.request(request.method, target, body=request.body or None, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
            relayed = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP}
            return Response(answer.status, body, relayed)
        except OSError as exc:
            return Response(502, f"upstream unreachable: {type(exc).__name__}".encode(), {"Content-Type": "text/plain"})
        finally:
            connection.close()
