"""Hedera mirror-node REST client for topic messages, async on httpx through :func:`layers.http.fetch`.

``GET {base}/api/v1/topics/{topic}/messages?limit=N&order=asc[&sequencenumber=gt:S]``: pages of at most
100 messages (:data:`MAX_PAGE`), followed through ``links.next`` until it is null. ``after_sequence``
reads only what is new since the last verified message. Public mirrors throttle (HTTP 429): requests are
paced by the same cross-process token bucket as the Solana client, and a 429 is retried as told by
Retry-After, then "rate limited" (a :class:`~.errors.LayerUnavailable`).

A hostile or broken mirror cannot steer the client: ``links.next`` must be a path of the same topic's
messages endpoint on the same host (anything else is a DecodeError, nothing is requested), and every page
must continue the sequence numbers past the previous page, so a mirror that serves a page twice cannot
make the client loop. 404 means "no such topic" (read: the topic is absent); other 4xx are data errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx

from ..jsonsafe import loads_bounded
from .breaker import BreakerRegistry
from .client_base import OwnedHttpClient
from .errors import DecodeError, LayerDataError
from .hedera import LAYER, TopicMessage, format_entity_id, parse_entity_id, parse_message
from .http import HttpResult, RetryPolicy, fetch
from .ratelimit import TokenBucket

MAX_PAGE = 100
MAX_PAGE_BYTES = 8 * 1024 * 1024  # 100 messages of at most 1 KiB each (base64), with room to spare
DEFAULT_RETRY = RetryPolicy()


class TopicNotFound(LayerDataError):
    """The mirror answered 404 for the topic: read, and there is no such topic."""


class MirrorClient(OwnedHttpClient):
    def __init__(
        self,
        base_url: str,
        *,
        page_size: int = MAX_PAGE,
        requests_per_window: int = 50,
        window_s: float = 1.0,
        timeout_s: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        client: httpx.AsyncClient | None = None,
        breakers: BreakerRegistry | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE}, got {page_size}")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.retry = retry
        self.request_count = 0
        self.breakers = breakers or BreakerRegistry()
        self._bucket = TokenBucket.for_provider(self.base_url, requests_per_window, window_s)
        self._init_client(client, timeout_s)

    def __repr__(self) -> str:
        return f"MirrorClient(base_url={self.base_url!r})"


    async def _get(self, path_and_query: str) -> HttpResult:
        self.request_count += 1
        await self._bucket.acquire()
        try:
            return await fetch(self._client, "GET", self.base_url + path_and_query, layer=LAYER,
                               max_bytes=MAX_PAGE_BYTES, retry=self.retry, breakers=self.breakers)  # fmt: skip
        finally:
            self._bucket.release()

    def first_page_path(self, topic: str, after_sequence: int = 0) -> str:
        topic = format_entity_id(parse_entity_id(topic, where="topic"))
        path = f"/api/v1/topics/{topic}/messages?limit={self.page_size}&order=asc"
        return path + (f"&sequencenumber=gt:{after_sequence}" if after_sequence > 0 else "")

    async def message_pages(self, topic: str, *, after_sequence: int = 0) -> AsyncIterator[list[TopicMessage]]:
        """The topic's messages after ``after_sequence``, in sequence order, one page at a time."""
        path: str | None = self.first_page_path(topic, after_sequence)
        last = after_sequence
        while path is not None:
            body = self._page_body(await self._get(path), topic)
            page = _messages(body, topic)
            if page and page[0].sequence_number <= last:
                raise DecodeError(f"mirror page repeats sequence {page[0].sequence_number} (after {last})",
                                  layer=LAYER, where=f"topic {topic}")  # fmt: skip
            last = page[-1].sequence_number if page else last
            yield page
            path = _next_path(body, topic, self.base_url) if page else None

    async def messages(self, topic: str, *, after_sequence: int = 0) -> list[TopicMessage]:
        return [message async for page in self.message_pages(topic, after_sequence=after_sequence) for message in page]

    def _page_body(self, result: HttpResult, topic: str) -> dict:
        where = f"topic {topic}"
        if result.status_code == 404:
            raise TopicNotFound(f"the mirror has no topic {topic}", layer=LAYER, where=where)
        if result.status_code != 200:
            raise LayerDataError(f"mirror answered HTTP {result.status_code}", layer=LAYER, where=where)
        body = loads_bounded(result.content, max_bytes=MAX_PAGE_BYTES, layer=LAYER, where=where)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            raise DecodeError("mirror answer has no 'messages' array", layer=LAYER, where=where)
        return body


def _messages(body: dict, topic: str) -> list[TopicMessage]:
    wanted = parse_entity_id(topic, where="topic")
    page = [parse_message(record, where=f"topic {topic} message {i}") for i, record in enumerate(body["messages"])]
    for message in page:
        if message.topic != wanted:
            raise DecodeError(f"mirror served a message of topic {format_entity_id(message.topic)}",
                              layer=LAYER, where=f"topic {topic}")  # fmt: skip
    numbers = [message.sequence_number for message in page]
    if numbers != sorted(set(numbers)):
        raise DecodeError("mirror page is not in ascending sequence order", layer=LAYER, where=f"topic {topic}")
    return page


def _next_path(body: dict, topic: str, base_url: str) -> str | None:
    """``links.next`` as a path under ``base_url``; None at the end. Refuses any other host or endpoint."""
    links = body.get("links") or {}
    nxt = links.get("next") if isinstance(links, dict) else None
    if nxt is None:
        return None
    endpoint = f"/api/v1/topics/{format_entity_id(parse_entity_id(topic, where='topic'))}/messages"
    base = urlsplit(base_url)
    parts = urlsplit(nxt) if isinstance(nxt, str) else None
    foreign = parts is None or (parts.netloc and (parts.scheme, parts.netloc) != (base.scheme, base.netloc))
    path = parts.path if parts is not None else ""
    prefix = base.path.rstrip("/")
    if prefix and path.startswith(prefix + "/api/"):
        path = path[len(prefix) :]
    if foreign or path != endpoint or parts.fragment:
        raise DecodeError(f"links.next leaves the topic's messages endpoint: {str(nxt)[:80]!r}",
                          layer=LAYER, where=f"topic {topic}")  # fmt: skip
    return path + (f"?{parts.query}" if parts.query else "")
