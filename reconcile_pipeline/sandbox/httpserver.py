"""A small threaded HTTP server on loopback that the local world's protocol servers build on.

Each server subclasses :class:`LoopbackServer` and implements :meth:`route`. The base adds
what the fault matrix needs, switchable at run time through ``server.faults`` (or
``server.faults.arm(mode, after=N, times=M)``: the first N requests are answered normally, so an
outage starts in the middle of a run, and the server heals after M faulty answers):

- ``latency_s``: sleep before answering (slow; past the client's timeout: a timeout);
- ``mode``: ``ok`` | ``down`` (close the connection with no response) | ``reset`` (a TCP reset)
  | ``error`` (HTTP 503) | ``ratelimit`` (HTTP 429 with Retry-After) | ``flaky`` (every
  ``flaky_every``-th request fails with 503, deterministically) | ``truncate`` (announce the full
  length, send half) | ``drip`` (send the body a few bytes at a time, ``drip_delay_s`` apart)
  | ``drip_forever`` (the body, then whitespace, a few bytes at a time, never ending)
  | ``endless`` (200 with a chunked body of ``filler`` that never ends) | ``redirect`` (302 to
  ``redirect_to`` + the request path);
- :meth:`LoopbackServer.refuse` / :meth:`LoopbackServer.accept`: close and reopen the listening
  socket on the same port (connections refused in between);
- counters: ``requests`` (by path prefix) and ``bytes_sent`` for benchmarks and tests.

A route may answer with ``Response(stream=iterator)``: the body is sent with chunked transfer
encoding as the iterator yields (until the client goes away). Servers bind to 127.0.0.1 unless
told otherwise.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .httpfaults import ENDLESS_LIMIT, MODES, Faults, Request, Response, fault_stream, injected_response

__all__ = ["MODES", "Faults", "LoopbackServer", "Request", "Response"]


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
        request = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body, parts.query)
        owner._count(request)
        faults = owner.faults
        active = owner._fault_applies(faults)
        mode = faults.mode if active else "ok"
        if faults.latency_s and active:
            time.sleep(faults.latency_s)
        injected = owner._injected_response(faults, mode, request)
        if injected in ("drop", "reset"):
            self._drop(injected == "reset")
            return
        response = injected or owner.route(request)
        self._write(response, faults, mode, head_only=self.command == "HEAD")

    def _drop(self, reset: bool) -> None:
        self.close_connection = True
        if reset:  # SO_LINGER 0: close() sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        self.connection.shutdown(socket.SHUT_RDWR)

    def _write(self, response: Response, faults: Faults, mode: str, head_only: bool) -> None:
        stream = fault_stream(response, faults, mode)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if stream is None:
            self.send_header("Content-Length", str(len(response.body)))
        elif "Content-Length" not in response.headers:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if head_only:
            return
        if stream is not None:
            self._send_stream(stream, chunked="Content-Length" not in response.headers)
            return
        body = response.body
        if mode == "truncate" and body:
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)
        self.server.owner._add_bytes(len(body))

    def _send_stream(self, stream: Iterable[bytes], chunked: bool) -> None:
        owner, sent = self.server.owner, 0
        for chunk in stream:
            if owner._stopping.is_set() or sent >= ENDLESS_LIMIT:
                self.close_connection = True  # stopped early: the body is incomplete
                return
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                self.wfile.flush()
                sent += len(chunk)
                owner._add_bytes(len(chunk))
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

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
        self._stopping = threading.Event()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._address = self._httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._address
        return f"http://{host}:{port}"

    def start(self) -> LoopbackServer:
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def refuse(self) -> None:
        """Close the listening socket: connections are refused until :meth:`accept`."""
        self.stop()

    def accept(self) -> LoopbackServer:
        """Listen again on the same address after :meth:`refuse`."""
        self._httpd = _Server(self._address, _Handler)
        self._httpd.owner = self
        return self.start()

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

    def _fault_applies(self, faults: Faults) -> bool:
        """Whether the faults apply to this request: not to the first ``faults.after`` since arming, and
        only to the ``faults.times`` after those (when set)."""
        with self._lock:
            faults.seen += 1
            past = faults.seen - faults.after
            return past > 0 and (faults.times <= 0 or past <= faults.times)

    def _injected_response(self, faults: Faults, mode: str, request: Request) -> Response | str | None:
        if mode != "flaky":
            return injected_response(faults, mode, request)
        with self._lock:
            self._flaky_counter += 1
            fail = self._flaky_counter % max(faults.flaky_every, 1) == 0
        return Response(503, b"injected flake", {"Content-Type": "text/plain"}) if fail else None
