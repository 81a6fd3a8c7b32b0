"""Read a Hedera topic's messages and the pinning services' pin sets (no Dagster, no judging).

A store that could not be read carries its error (its checks are then unknown): the topic as ``None`` with
the error, a pinning service as ``None`` in the pin map.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..layers.errors import LayerError
from ..layers.hedera import TopicMessage
from ..layers.hedera_mirror import MirrorClient
from ..layers.http import RetryPolicy
from ..layers.pinning_service import PinningServiceClient


@dataclass
class AttestationSnapshot:
    messages: list[TopicMessage] | None = None
    topic_error: LayerError | None = None
    pinned: dict[str, set[str] | None] = field(default_factory=dict)
    pin_errors: dict[str, LayerError] = field(default_factory=dict)


async def _topic(mirror_url: str, topic: str, retry: RetryPolicy) -> list[TopicMessage]:
    async with MirrorClient(mirror_url, retry=retry) as client:
        return await client.messages(topic)


async def _pins(name: str, endpoint: str, token: str, cids: list[str], retry: RetryPolicy) -> set[str]:
    async with PinningServiceClient(name, endpoint, token, retry=retry) as client:
        return await client.pinned(cids)


async def _read(mirror_url: str, topic: str, services: dict[str, dict], cids: list[str],
                retry: RetryPolicy) -> AttestationSnapshot:  # fmt: skip
    snapshot = AttestationSnapshot()
    calls = [_topic(mirror_url, topic, retry),
             *(_pins(name, s["endpoint"], s["token"], cids, retry) for name, s in services.items())]  # fmt: skip
    answers = await asyncio.gather(*calls, return_exceptions=True)
    topic_answer, pin_answers = answers[0], answers[1:]
    if isinstance(topic_answer, LayerError):
        snapshot.topic_error = topic_answer
    elif isinstance(topic_answer, BaseException):
        raise topic_answer
    else:
        snapshot.messages = topic_answer
    for name, answer in zip(services, pin_answers, strict=True):
        if isinstance(answer, LayerError):
            snapshot.pinned[name], snapshot.pin_errors[name] = None, answer
        elif isinstance(answer, BaseException):
            raise answer
        else:
            snapshot.pinned[name] = answer
    return snapshot


def read_attestations(mirror_url: str, topic: str, services: dict[str, dict], cids: list[str], *,
                      retry: RetryPolicy | None = None) -> AttestationSnapshot:  # fmt: skip
    """The topic's messages (from the first) and, per service, which of ``cids`` it has pinned."""
    retry = retry or RetryPolicy(attempts=2, base_delay_s=0.1, max_delay_s=1.0)
    return asyncio.run(_read(mirror_url, topic, services, cids, retry))
