"""What the alert engine reads: a run's outputs (Parquet, by run id) and the repair ledger (if there is one).

A run's frames are where the Parquet IO manager writes them: ``{data_dir}/snapshots/{asset}/{run_id}.parquet``
(``consistency_findings``, ``nft_consistency``, ``block_consistency``; ``blockstore_kv`` for its block scope).
A run without ``consistency_findings`` (a snapshot-only or repair run) has no findings to judge.

Each snapshot Parquet of the run carries its layer's read status (``attrs["read_status"]``):
:func:`unread_layers` names the layers that could not be read as a whole, with the cause. IPFS is read through
``n`` gateways, ``k`` of which suffice: objects that no gateway served while ``k`` or more gateways answered
are unknown one by one, not an outage of IPFS.

The repair ledger is issue 5's ``repair_ledger`` table; without it (not migrated yet, or no such model) the
repair rules are simply not evaluated.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import select

from .. import clients
from ..cadences import Scope, context_blocks, home_entities_only, in_scope
from ..db.models import TABLES
from ..layers.errors import LayerError
from ..snapshots import SNAPSHOT_NAMES

log = logging.getLogger(__name__)
FAILING_REPAIRS = ("failed", "manual_review")


@dataclass
class RunOutputs:
    findings: pd.DataFrame
    nft: pd.DataFrame | None
    blocks: pd.DataFrame | None
    context: set[str]  # block numbers read only as context
    unread: dict[str, str] = field(default_factory=dict)  # layer that could not be read as a whole -> why


def _frame(settings, asset: str, run_id: str, **kwargs) -> pd.DataFrame | None:
    path = Path(settings.data_dir) / "snapshots" / asset / f"{run_id}.parquet"
    return pd.read_parquet(path, engine="pyarrow", **kwargs) if path.exists() else None


def load_run_outputs(settings, run_id: str, scope: Scope | None = None) -> RunOutputs | None:
    """The run's findings (context blocks dropped; with ``scope``, the whole population's entities too unless
    it judges them: :func:`..cadences.home_entities_only`) and joined frames; None when it produced no findings."""
    findings = _frame(settings, "consistency_findings", run_id)
    if findings is None:
        return None
    kv = _frame(settings, "blockstore_kv", run_id, columns=["key"])
    frames = {"blockstore_kv": kv} if kv is not None else {}
    findings = in_scope(findings, frames)
    if scope is not None:
        findings = home_entities_only(findings, scope)
    nft = _frame(settings, "nft_consistency", run_id)
    blocks = _frame(settings, "block_consistency", run_id)
    return RunOutputs(findings, nft, blocks, context_blocks(frames), unread_layers(settings, run_id))


def _read_status(path: Path) -> dict:
    """A snapshot file's read status, from its Parquet metadata alone (no rows are read)."""
    metadata = pq.read_schema(path).metadata or {}
    try:
        attrs = json.loads(metadata.get(b"PANDAS_ATTRS", b"{}"))
    except ValueError:
        return {}
    status = attrs.get("read_status") if isinstance(attrs, dict) else None
    return status if isinstance(status, dict) else {}


def _unreadable_rows(status: dict) -> str:
    rows = status.get("rows")
    return f"{status.get('unreadable', rows)} of {rows} records unreadable" if rows else "could not be read"


def _enough_gateways(settings, name: str, path: Path) -> bool:
    """Whether at least ``k`` gateways answered some read of the objects snapshot (any answer but "unavailable")."""
    if name != "ipfs_objects":
        return False
    frame = pd.read_parquet(path, columns=["gateway_statuses"])
    answered: set[str] = set()
    for text in frame["gateway_statuses"].dropna():
        statuses = json.loads(text) if isinstance(text, str) else {}
        answered |= {gateway for gateway, status in statuses.items() if status not in ("unavailable", "skipped")}
    return len(answered) >= settings.ipfs.min_gateways


def unread_layers(settings, run_id: str) -> dict[str, str]:
    """Layer -> the cause, for each layer one of whose snapshots in the run could not be read at all."""
    unread: dict[str, str] = {}
    for name in SNAPSHOT_NAMES:
        path = Path(settings.data_dir) / "snapshots" / name / f"{run_id}.parquet"
        status = _read_status(path) if path.exists() else {}
        if status.get("status") == "unavailable" and not _enough_gateways(settings, name, path):
            layer = str(status.get("layer") or name)
            unread.setdefault(layer, f"{name}: {status.get('message') or _unreadable_rows(status)}")
    return unread


def read_repairs(settings, since: datetime | None) -> tuple[list[dict], list[dict]] | None:
    """(failing ledger rows, rows verified since ``since``), or None when there is no ledger to read."""
    table = TABLES.get("repair_ledger")
    if table is None:
        return None
    wanted = [table.c[name] for name in ("action_id", "check_id", "entity_type", "entity_id", "repair", "status")]
    wanted += [table.c.attempts, table.c.last_error, table.c.updated_at]
    try:
        with clients.database_client(settings) as db, db.connect() as conn:
            failing = conn.execute(select(*wanted).where(table.c.status.in_(FAILING_REPAIRS))).mappings().all()
            verified = []
            if since is not None:
                statement = select(*wanted).where(table.c.status == "verified", table.c.updated_at > since)
                verified = conn.execute(statement).mappings().all()
    except (LayerError, ValueError) as exc:
        log.info("repair ledger not read: %s", exc)
        return None
    return [dict(row) for row in failing], [dict(row) for row in verified]
