"""A local Hedera mirror node (REST) serving topic messages, on loopback.

``GET /api/v1/topics/{topic}/messages?limit=&order=&sequencenumber=`` answers as the public mirror does:
``{"messages": [...], "links": {"next": "/api/v1/topics/.../messages?...&sequencenumber=gt:N" | null}}``,
``limit`` 1..100 (else 400), ``order`` asc|desc, ``sequencenumber`` as ``N``, ``eq:N``, ``gt:N``,
``gte:N``, ``lt:N``, ``lte:N``; an unknown topic is 404. Each message carries ``consensus_timestamp``
("seconds.nanos"), base64 ``message`` and ``running_hash``, ``running_hash_version`` 3, ``payer_account_id``,
``sequence_number``, ``topic_id`` and ``chunk_info``.

:meth:`TopicHistory.submit` (also on the server) appends a message the way the consensus nodes do (next
sequence number, the v3 running hash from the previous one). Faults for tests and the world, made on the
served history itself: :meth:`tamper` changes a stored message's bytes and keeps its running hash (a tampered mirror),
:meth:`drop` removes a message (a sequence gap).
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable

from ..layers.errors import DecodeError
from ..layers.hedera import (
    RUNNING_HASH_VERSION,
    EntityId,
    TopicMessage,
    format_entity_id,
    message_json,
    parse_entity_id,
    running_hash_v3,
)
from .httpserver import LoopbackServer, Request, Response

_ROUTE = re.compile(r"/api/v1/topics/([^/]+)/messages")
_FILTER = re.compile(r"(?:(eq|gt|gte|lt|lte):)?(\d{1,19})")
_COMPARE = {
    "eq": lambda a, b: a == b, "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
}  # fmt: skip
MAX_LIMIT = 100
DEFAULT_LIMIT = 25


def _error(status: int, message: str) -> Response:
    return Response.json({"_status": {"messages": [{"message": message}]}}, status)


class TopicHistory:
    """Topics and their messages as the consensus nodes order them (no server: the mirror serves one)."""

    def __init__(self, start_seconds: int = 1_700_000_000) -> None:
        self.topics: dict[str, list[TopicMessage]] = {}
        self._clock = start_seconds
        self._lock = threading.Lock()

    def create_topic(self, topic: str) -> None:
        with self._lock:
            self.topics.setdefault(format_entity_id(parse_entity_id(topic)), [])

    def submit(
        self, topic: str, payer: str, message: bytes, *, seconds: int | None = None, nanos: int = 0
    ) -> TopicMessage:
        """Append ``message`` as the consensus nodes would; returns the stored message."""
        topic_id, payer_id = parse_entity_id(topic), parse_entity_id(payer)
        with self._lock:
            history = self.topics.setdefault(format_entity_id(topic_id), [])
            previous = history[-1] if history else None
            if seconds is None:
                self._clock += 1
                seconds = self._clock
            sequence = previous.sequence_number + 1 if previous else 1
            running = running_hash_v3(previous.running_hash if previous else None, topic_id, payer_id, seconds,
                                      nanos, sequence, message)  # fmt: skip
            stored = TopicMessage(topic_id, sequence, seconds, nanos, payer_id, message, running, RUNNING_HASH_VERSION)
            history.append(stored)
            return stored

    def tamper(self, topic: str, sequence_number: int, message: bytes) -> None:
        """Serve other bytes for one stored message, its running hash left as it was."""
        self._replace(topic, sequence_number, lambda m: dataclasses.replace(m, message=message))

    def drop(self, topic: str, sequence_number: int) -> None:
        """Remove one message from the served history (a gap in sequence numbers)."""
        self._replace(topic, sequence_number, lambda m: None)

    def snapshot(self, topic: str) -> list[TopicMessage] | None:
        with self._lock:
            history = self.topics.get(topic)
            return None if history is None else list(history)

    def _replace(self, topic: str, sequence_number: int, change: Callable[[TopicMessage], TopicMessage | None]) -> None:
        key = format_entity_id(parse_entity_id(topic))
        with self._lock:
            history = self.topics[key]
            index = next(i for i, m in enumerate(history) if m.sequence_number == sequence_number)
            replaced = change(history[index])
            if replaced is None:
                del history[index]
            else:
                history[index] = replaced


class MirrorServer(LoopbackServer):
    name = "hedera-mirror"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, history: TopicHistory | None = None) -> None:
        super().__init__(host, port)
        self.history = history or TopicHistory()
        self.create_topic, self.submit = self.history.create_topic, self.history.submit
        self.tamper, self.drop = self.history.tamper, self.history.drop

    # -- REST ------------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        match = _ROUTE.fullmatch(request.path)
        if request.method != "GET" or match is None:
            return _error(404, "Not found")
        try:
            topic: EntityId = parse_entity_id(match.group(1))
        except DecodeError:
            return _error(400, "Invalid parameter: topic.id")
        history = self.history.snapshot(format_entity_id(topic))
        if history is None:
            return _error(404, "No such topic id - " + format_entity_id(topic))
        return self._page(request, format_entity_id(topic), history)

    def _page(self, request: Request, topic: str, history: list[TopicMessage]) -> Response:
        limit_text, order = request.arg("limit", str(DEFAULT_LIMIT)), request.arg("order", "asc")
        if not (limit_text or "").isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            return _error(400, "Invalid parameter: limit")
        if order not in ("asc", "desc"):
            return _error(400, "Invalid parameter: order")
        selected = history if order == "asc" else history[::-1]
        for value in request.query.get("sequencenumber", []):
            parsed = _FILTER.fullmatch(value)
            if parsed is None:
                return _error(400, "Invalid parameter: sequencenumber")
            compare, bound = _COMPARE[parsed.group(1) or "eq"], int(parsed.group(2))
            selected = [m for m in selected if compare(m.sequence_number, bound)]
        page = selected[: int(limit_text)]
        links = {"next": _next(topic, page, limit_text, order)}
        return Response.json({"messages": [message_json(m) for m in page], "links": links})

    def __repr__(self) -> str:
        return f"MirrorServer({self.url})"


def _next(topic: str, page: list[TopicMessage], limit: str, order: str) -> str | None:
    if len(page) < int(limit):
        return None
    op = "gt" if order == "asc" else "lt"
    return f"/api/v1/topics/{topic}/messages?limit={limit}&order={order}&sequencenumber={op}:{page[-1].sequence_number}"
