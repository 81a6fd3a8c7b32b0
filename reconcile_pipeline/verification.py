"""The verification state (table ``verification_state``): per CID and per judged entity, when it was last
checked, when it was last verified, the result and the bytes hash. No Dagster here.

- CIDs (``kind`` "cid"): written by the IPFS snapshots. ``result`` is the object's read status (ok | missing |
  unavailable | invalid); ``sha256``/``size`` and ``last_verified_at`` change only when bytes fetched from a
  gateway were hashed against the CID (a ``fresh`` row); an availability check (a root-block probe) only moves
  ``last_checked_at``. The regular cadence asks :func:`cid_states` which CIDs were verified, to take their
  content from the content archive instead of downloading it again.
- R2 objects (``kind`` "r2", ``key`` "bucket/key"): written by the R2 snapshot: the SHA-256 and size of the bytes
  last read, with the object's ETag in ``details``. The regular cadence lists the bucket (ETag and size per key)
  and GETs only objects whose ETag or size changed since (:func:`r2_states`).
- Entities (``kind`` their entity type: nft, operation, block, level, cid, ...): written after each run by
  :func:`record_entities`: ``result`` pass | fail | unknown, ``sha256`` a content fingerprint (an NFT's
  metadata SHA-256, a block's hash), the failing checks in ``details``.

Reads that fail (database down, not migrated) raise the LayerError tree; callers decide (the snapshots treat
an unreadable state as "nothing verified yet": they download, which is always safe).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite

from . import clients
from .db.models import TABLES
from .settings import Settings

CID = "cid"
R2 = "r2"
KEYS_PER_QUERY = 500
ROWS_PER_WRITE = 5_000
_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_ALWAYS = ("result", "last_checked_at", "cadence", "run_id", "details")
_ON_VERIFIED = ("verified", "sha256", "size", "last_verified_at")


def _table() -> Table:
    return TABLES["verification_state"]


def read_states(settings: Settings, kind: str, keys: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows of ``kind`` (all of them, or those of ``keys``) as a frame of the table's columns."""
    table = _table()
    statement = select(table).where(table.c.kind == kind).order_by(table.c.key)
    with clients.database_client(settings) as db:
        if keys is None:
            return db.read_table(table.name, [statement])
        wanted = sorted({str(key) for key in keys})
        chunks = [wanted[i : i + KEYS_PER_QUERY] for i in range(0, len(wanted), KEYS_PER_QUERY)]
        return db.read_table(table.name, [statement.where(table.c.key.in_(chunk)) for chunk in chunks])


def cid_states(settings: Settings, cids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """CID -> its state, for the CIDs whose bytes were verified at least once (``last_verified_at`` set)."""
    wanted = [cid for cid in cids if isinstance(cid, str) and cid]
    if not wanted:
        return {}
    frame = read_states(settings, CID, wanted)
    verified = frame[frame["last_verified_at"].notna() & frame["sha256"].notna()]
    return {row["key"]: row for row in verified.to_dict("records")}


def _upsert(settings: Settings, rows: list[dict[str, Any]], updated: tuple[str, ...]) -> None:
    if not rows:
        return
    table = _table()
    with clients.database_client(settings) as db, db.connect(write=True) as conn:
        statement = _INSERT[conn.dialect.name](table)
        statement = statement.on_conflict_do_update(
            index_elements=["kind", "key"], set_={column: statement.excluded[column] for column in updated}
        )
        for start in range(0, len(rows), ROWS_PER_WRITE):
            conn.execute(statement, rows[start : start + ROWS_PER_WRITE])


def _row(kind: str, key: str, result: str, now: datetime, cadence: str | None, run_id: str | None, **extra: Any):
    row = {"kind": kind, "key": str(key)[:255], "result": result, "last_checked_at": now, "cadence": cadence}
    row |= {"run_id": run_id, "details": None, "verified": False, "sha256": None, "size": None}
    row["last_verified_at"] = None
    return row | extra


def record_cids(
    settings: Settings,
    reads: Iterable[dict[str, Any]],
    *,
    cadence: str | None = None,
    run_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Record CID reads: ``{"cid", "status", "fresh": bytes just verified, "sha256", "size"}`` each."""
    now = now or datetime.now(UTC)
    fresh, checked = {}, {}
    for read in reads:
        cid = read.get("cid")
        if not isinstance(cid, str) or not cid:
            continue
        if read.get("fresh"):
            fresh[cid] = _row(CID, cid, read["status"], now, cadence, run_id, verified=True,
                              sha256=read["sha256"], size=int(read["size"]), last_verified_at=now)  # fmt: skip
        elif cid not in fresh:
            checked[cid] = _row(CID, cid, read["status"], now, cadence, run_id)
    checked = {cid: row for cid, row in checked.items() if cid not in fresh}
    _upsert(settings, list(fresh.values()), _ALWAYS + _ON_VERIFIED)
    _upsert(settings, list(checked.values()), _ALWAYS)
    return len(fresh) + len(checked)


def r2_states(settings: Settings, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """R2 object key (``bucket/key``) -> its state (``sha256``, ``size``, ``details["etag"]``), for copies read."""
    wanted = [key for key in keys if isinstance(key, str) and key]
    if not wanted:
        return {}
    frame = read_states(settings, R2, wanted)
    read = frame[frame["sha256"].notna()]
    return {row["key"]: row for row in read.to_dict("records")}


def record_r2_copies(
    settings: Settings,
    copies: Iterable[dict[str, Any]],
    *,
    cadence: str | None = None,
    run_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Record R2 objects read: ``{"key": bucket/key, "etag", "size", "sha256", "fresh": bytes just read}`` each.

    A fresh read stores the bytes' SHA-256 with the listing's ETag and size (the regular cadence reads the object
    again only when its ETag or size changes); a reused copy only moves ``last_checked_at``."""
    now = now or datetime.now(UTC)
    fresh, checked = [], []
    for copy in copies:
        if copy.get("fresh"):
            verified = {"sha256": copy["sha256"], "size": int(copy["size"]), "last_verified_at": now}
            fresh.append(_row(R2, copy["key"], "ok", now, cadence, run_id, verified=True, **verified,
                              details={"etag": copy["etag"]}))  # fmt: skip
        else:
            checked.append(_row(R2, copy["key"], "ok", now, cadence, run_id))
    _upsert(settings, fresh, _ALWAYS + _ON_VERIFIED)
    _upsert(settings, checked, ("last_checked_at", "cadence", "run_id"))
    return len(fresh) + len(checked)


def record_entities(
    settings: Settings,
    entities: pd.DataFrame,
    *,
    cadence: str | None = None,
    run_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Record each judged entity: columns entity_type, entity_id, result (pass|fail|unknown), sha256, checks."""
    now = now or datetime.now(UTC)
    passed, other = [], []
    for entity in entities.to_dict("records"):
        sha256 = entity.get("sha256") if isinstance(entity.get("sha256"), str) else None
        checks = entity.get("checks") if isinstance(entity.get("checks"), list) else []
        row = _row(entity["entity_type"], entity["entity_id"], entity["result"], now, cadence, run_id,
                   sha256=sha256, details={"checks": checks} if checks else None)  # fmt: skip
        if entity["result"] == "pass":
            passed.append(row | {"verified": True, "last_verified_at": now})
        else:
            other.append(row)
    _upsert(settings, passed, _ALWAYS + _ON_VERIFIED)
    _upsert(settings, other, (*_ALWAYS, "verified", "sha256"))
    return len(passed) + len(other)


def entity_results(
    findings: pd.DataFrame, nft: pd.DataFrame | None, blocks: pd.DataFrame | None, levels: list[str]
) -> pd.DataFrame:
    """One row per judged entity: its result (fail > unknown > pass), content fingerprint and failing checks.

    Judged entities are the NFT rows, the blocks (``blocks`` without context) and the levels, plus every other
    entity a finding names (whole-layer ``*`` unknowns excepted)."""
    parts = [pd.DataFrame({"entity_type": "level", "entity_id": list(levels), "sha256": None})]
    if nft is not None and len(nft):
        parts.append(
            pd.DataFrame(
                {
                    "entity_type": nft["entity_type"].astype(str),
                    "entity_id": nft["entity_id"].astype(str),
                    "sha256": nft["metadata_sha256"],
                }
            )
        )
    if blocks is not None and len(blocks):
        parts.append(pd.DataFrame({"entity_type": "block", "entity_id": blocks["block_number"].astype(int).astype(str),
                                   "sha256": blocks["ref_hash"]}))  # fmt: skip
    named = findings[findings["entity_id"].astype(str) != "*"]
    parts.append(named[["entity_type", "entity_id"]].astype(str).assign(sha256=None))
    entities = pd.concat(parts, ignore_index=True).drop_duplicates(["entity_type", "entity_id"])
    keyed = named.assign(entity_id=named["entity_id"].astype(str))
    failing = keyed[keyed["status"] == "fail"].groupby(["entity_type", "entity_id"])["check_id"].agg(sorted)
    unknown = keyed[keyed["status"] == "unknown"].groupby(["entity_type", "entity_id"])["check_id"].agg(sorted)
    keys = list(zip(entities["entity_type"], entities["entity_id"], strict=True))
    entities["checks"] = [failing.get(key, unknown.get(key, [])) for key in keys]
    entities["result"] = ["fail" if key in failing.index else "unknown" if key in unknown.index else "pass"
                          for key in keys]  # fmt: skip
    return entities.reset_index(drop=True)
