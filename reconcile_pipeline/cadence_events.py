"""The immediate cadence's events, cursor-based: operations reaching a confirmed state, ``vdc:latest`` moving.

:func:`find_events` reads what changed since an :class:`ImmediateCursor` and returns the new events (each
with its run key and scope) and the cursor to save. Across restarts nothing is missed or repeated:

- operations: rows in a confirmed state (BLOCKCHAIN_CONFIRMED, VERIFIED, COMPLETED) with ``updated_at`` at
  or after ``op_at - grace`` (a transaction that committed late with an earlier timestamp is still seen);
  the event keys already emitted in that overlap are in the cursor (``op_seen``), so none is emitted twice.
  Event key ``op:<id>:<state>``: one event per state an operation reaches.
- blocks: every number above the cursor's ``block`` up to the one ``vdc:latest`` names, one event each
  (``block:<n>``); a first evaluation starts at the current head.
- at most ``max_events`` per call, oldest first; the cursor only moves past what was returned.

A source that cannot be read (database, KV) is skipped for this call (its cursor part does not move) and
named in ``problems``. Without a cursor, operations are looked for in the last ``frequent_window_s`` (what
is older is the regular cadence's).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd

from . import clients
from .cadences import CONFIRMED_STATES, Scope, block_event_scope, operation_event_scope
from .layers import blocks as fmt
from .layers.errors import LayerError
from .snapshots.blockstore_scope import latest_number


@dataclass
class ImmediateCursor:
    op_at: str | None = None  # highest updated_at (ISO) of the confirmed operations seen
    op_seen: dict[str, str] = field(default_factory=dict)  # event key -> its updated_at, within the grace window
    block: int | None = None  # highest block number seen

    def to_json(self) -> str:
        return json.dumps({"op_at": self.op_at, "op_seen": self.op_seen, "block": self.block}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> ImmediateCursor | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(data.get("op_at"), dict(data.get("op_seen") or {}), data.get("block"))


@dataclass(frozen=True)
class Event:
    key: str  # the run key
    scope: Scope
    op_id: str | None = None
    block: int | None = None


def _operation_events(settings, cursor: ImmediateCursor, now: datetime, limit: int) -> list[tuple[Event, str]]:
    grace = timedelta(seconds=settings.reconciliation.immediate_grace_s)
    if cursor.op_at is None:
        since = now - timedelta(seconds=settings.reconciliation.frequent_window_s)
    else:
        since = datetime.fromisoformat(cursor.op_at) - grace
    with clients.database_client(settings) as db:
        ops = db.read_minting_operations(updated_since=since)
    ops = ops[ops["status"].isin(CONFIRMED_STATES)].sort_values(["updated_at", "id"], kind="stable")
    events = []
    for op_id, status, updated in zip(ops["id"], ops["status"], ops["updated_at"], strict=True):
        key = f"op:{op_id}:{status}"
        if key not in cursor.op_seen:
            events.append((Event(key, operation_event_scope([op_id]), op_id=op_id), pd.Timestamp(updated).isoformat()))
    return events[:limit]


def _advance_ops(settings, cursor: ImmediateCursor, taken: list[tuple[Event, str]]) -> None:
    if not taken:
        return
    stamps = [at for _, at in taken] + ([cursor.op_at] if cursor.op_at else [])
    newest = max(stamps, key=datetime.fromisoformat)
    cursor.op_at = newest
    cutoff = datetime.fromisoformat(newest) - timedelta(seconds=settings.reconciliation.immediate_grace_s)
    seen = cursor.op_seen | {event.key: at for event, at in taken}
    cursor.op_seen = {key: at for key, at in seen.items() if datetime.fromisoformat(at) >= cutoff}


async def _latest(settings) -> int | None:
    async with clients.kv_client(settings) as kv:
        return latest_number(await kv.get(fmt.LATEST_KEY))


def _block_events(latest: int | None, cursor: ImmediateCursor, limit: int) -> list[Event]:
    if latest is None:
        return []
    first = latest if cursor.block is None else cursor.block + 1
    return [Event(f"block:{n}", block_event_scope([n]), block=n) for n in range(first, latest + 1)][:limit]


def find_events(
    settings, cursor: ImmediateCursor | None, *, now: datetime | None = None, max_events: int | None = None
) -> tuple[list[Event], ImmediateCursor, dict[str, str]]:
    """New events since ``cursor`` (oldest first), the cursor after them, and the sources that failed."""
    now = now or datetime.now(UTC)
    limit = max_events if max_events is not None else settings.reconciliation.immediate_max_runs_per_tick
    cursor = ImmediateCursor.from_json(cursor.to_json()) if cursor else ImmediateCursor()
    problems: dict[str, str] = {}
    events: list[Event] = []
    try:
        taken = _operation_events(settings, cursor, now, limit)
        _advance_ops(settings, cursor, taken)
        events += [event for event, _ in taken]
    except (LayerError, ValueError) as exc:
        problems["database"] = str(exc)
    try:
        blocks = _block_events(asyncio.run(_latest(settings)), cursor, limit - len(events))
        if blocks:
            cursor.block = blocks[-1].block
        events += blocks
    except (LayerError, ValueError) as exc:
        problems["kv"] = str(exc)
    return events, cursor, problems


def combined_scope(events: list[Event]) -> Scope:
    """One scope for many events (the CLI runs them as one reconciliation)."""
    op_ids = [event.op_id for event in events if event.op_id]
    numbers = [event.block for event in events if event.block is not None]
    return Scope(
        "immediate",
        "regular",
        ops="ids" if op_ids else "none",
        op_ids=tuple(dict.fromkeys(op_ids)),
        blocks="numbers" if numbers else "none",
        block_numbers=tuple(sorted(set(numbers))),
    )
