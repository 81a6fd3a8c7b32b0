"""Closing manual-review items: by an operator, or when a complete run no longer finds their problem.

An item stays open while the problem it was opened for is still seen. A run that read everything
(``Scope.complete``) and found neither a failure nor an unknown for the item's check on the item's entity,
and no whole-layer unknown (entity ``*``) for that check, shows the problem gone: the item is resolved
with a ``cleared`` event naming the run. A partial run (a cadence's scope, a deep shard) never clears
anything: an entity it did not read has no finding either. An unknown keeps the item open (unknown is not
fixed).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import and_, update

from ..layers.database import DatabaseClient
from .ledger import QUEUE, Ledger, history_event, now

STILL_SEEN = ("fail", "unknown")


def cleared_items(open_items: list[dict], findings: pd.DataFrame) -> list[dict]:
    """The open items a complete run's ``findings`` no longer support (pure)."""
    if not open_items:
        return []
    seen = findings.loc[findings["status"].isin(STILL_SEEN), ["check_id", "entity_id"]] if len(findings) else None
    if seen is None or seen.empty:
        return list(open_items)
    entities = set(zip(seen["check_id"], seen["entity_id"].astype(str), strict=True))
    layer_unknown = set(seen.loc[seen["entity_id"].astype(str) == "*", "check_id"])
    return [
        item
        for item in open_items
        if item["check_id"] not in layer_unknown and (item["check_id"], str(item["entity_id"])) not in entities
    ]


def resolve_item(db: DatabaseClient, item: dict, event: str, detail: str, by: str) -> bool:
    """Mark one open item resolved, appending ``event`` to its history; False if it was no longer open."""
    history = [*(item.get("history") or []), history_event(event, by, detail)]
    where = and_(QUEUE.c.id == item["id"], QUEUE.c.status == "open")
    values = {"status": "resolved", "resolved_at": now(), "updated_at": now(), "history": history}
    with db.connect(write=True) as conn:
        return conn.execute(update(QUEUE).where(where).values(**values)).rowcount == 1


def clear_gone(db: DatabaseClient, findings: pd.DataFrame, run: str) -> list[str]:
    """Resolve the open items a complete run no longer supports; their action ids."""
    items = cleared_items(Ledger(db, "queue-review").queue("open"), findings)
    detail = f"no longer found by {run}"
    return [item["action_id"] for item in items if resolve_item(db, item, "cleared", detail, run)]


def resolve_by_operator(db: DatabaseClient, ident: str, by: str, note: str) -> dict | None:
    """Resolve the open item whose id or action id is ``ident``; the item as it was, or None if none is open."""
    for item in Ledger(db, "queue-review").queue("open"):
        if ident in (item["id"], item["action_id"]) and resolve_item(db, item, "resolved", note or "resolved", by):
            return item
    return None
