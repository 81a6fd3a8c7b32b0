"""A counting, latency-injecting reverse proxy in front of the local S3 (moto) server.

moto's server is not a :class:`LoopbackServer`, so it has no ``faults.latency_s`` and no request
counters. The bench world puts this proxy between R2's client and moto (it only changes the
``r2_endpoint_url`` of the settings the bench writes): every request is forwarded unchanged and
counted, and the base class's latency applies to R2 like to every other layer.
"""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlencode, urlsplit

from reconcile_pipeline.sandbox.httpserver import LoopbackServer, Request, Response

HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"})


class S3Proxy(LoopbackServer):
    name = "r2"

    def __init__(self, upstream_url: str, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        parts = urlsplit(upstream_url)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(*self._upstream, timeout=60)
            self._local.connection = connection
        return connection

    def route(self, request: Request) -> Response:
        query = urlencode(request.query, doseq=True)
        target = request.path + (f"?{query}" if query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        for attempt in (1, 2):  # a kept-alive upstream connection may have been closed: retry once
            connection = self._connection()
            try:
                connection.request(request.method, target, body=request.body or None, headers=headers)
                upstream = connection.getresponse()
                body = upstream.read()
                break
            except (http.client.HTTPException, ConnectionError):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    return Response(502, b"upstream S3 unreachable")
        kept = {k: v for k, v in upstream.getheaders() if k.lower() not in HOP_HEADERS}
        return Response(upstream.status, body, kept)
