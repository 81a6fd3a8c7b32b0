"""What a :class:`~.httpserver.LoopbackServer` speaks and breaks: requests, responses and injected faults.

:class:`Faults` is the switchboard of one server (see :mod:`.httpserver` for the modes);
:func:`injected_response` is the answer a fault gives instead of the route's, and
:func:`fault_stream` the way a fault sends a body (dripped, dripped for ever, endless).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

ENDLESS_LIMIT = 1 << 31  # an endless body stops after 2 GiB all the same (a runaway guard)
MODES = ("ok", "down", "reset", "error", "ratelimit", "flaky", "truncate", "drip", "drip_forever", "endless")
MODES += ("redirect",)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    raw_query: str = ""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None  # sent chunked instead of ``body`` when set

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
    after: int = 0  # requests answered normally before the fault applies (an outage mid-run)
    times: int = 0  # how many requests the fault applies to before the server heals (0: until reset)
    redirect_to: str = ""
    filler: bytes = b"A" * 65536  # what an endless body repeats
    seen: int = 0  # requests since the fault was armed

    def arm(self, mode: str, *, after: int = 0, times: int = 0, **knobs: object) -> Faults:
        """Switch to ``mode`` after ``after`` more requests (for ``times`` requests, 0: until reset);
        other knobs (latency_s, retry_after_s, ...) by name."""
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; one of {', '.join(MODES)}")
        for name, value in knobs.items():
            if not hasattr(self, name):
                raise ValueError(f"unknown fault knob {name!r}")
            setattr(self, name, value)
        self.mode, self.after, self.times, self.seen = mode, after, times, 0
        return self

    def reset(self) -> None:
        self.mode, self.latency_s, self.after, self.times, self.seen = "ok", 0.0, 0, 0, 0


def fault_stream(response: Response, faults: Faults, mode: str) -> Iterable[bytes] | None:
    """The body as a stream when a fault sends it that way (or the route asked for one)."""
    if response.stream is not None:
        return response.stream
    if mode == "drip":
        response.headers["Content-Length"] = str(len(response.body))
        return _dripped(response.body, faults.drip_delay_s)
    if mode == "drip_forever":
        return _dripped_forever(response.body, faults.drip_delay_s)
    if mode == "endless":
        return repeat(faults.filler)
    return None


def _dripped(body: bytes, delay_s: float) -> Iterator[bytes]:
    for start in range(0, len(body), 16):
        yield body[start : start + 16]
        time.sleep(delay_s)


def _dripped_forever(body: bytes, delay_s: float) -> Iterator[bytes]:
    yield from _dripped(body, delay_s)
    while True:  # JSON allows trailing whitespace: the document never ends
        yield b" " * 16
        time.sleep(delay_s)


def repeat(filler: bytes) -> Iterator[bytes]:
    while True:
        yield filler


def injected_response(faults: Faults, mode: str, request: Request) -> Response | str | None:
    """What the fault answers instead of the route ("drop"/"reset": close the connection); None: the route."""
    if mode == "down":
        return "drop"
    if mode == "reset":
        return "reset"
    if mode == "error":
        return Response(503, b"injected outage", {"Content-Type": "text/plain"})
    if mode == "ratelimit":
        return Response(429, b"rate limited", {"Retry-After": f"{faults.retry_after_s:g}"})
    if mode == "redirect":
        return Response(302, b"", {"Location": f"{faults.redirect_to}{request.path}"})
    if mode == "endless":
        return Response(200, headers={"Content-Type": "application/octet-stream"}, stream=repeat(faults.filler))
    return None
