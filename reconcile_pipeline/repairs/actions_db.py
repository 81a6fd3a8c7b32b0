"""Database repairs from the chain (seed 000 "Blockchain-Database Reconciliation"): create, mark, update URIs.

Each handler reads the row as it is now (``current``), says whether it already holds the target values
(``done``), writes with a compare-and-set on the values the plan saw (``write``; a row that changed in
between raises :class:`StateChanged`, nothing is written) and re-judges the entity afterwards
(``verify``): the row is re-read *and* the truth is re-read from the chain (or the metadata from IPFS),
so a verified repair means the check that failed would now pass for this entity. The chain is only read.
A created row gets a deterministic id (``plan_nft.record_id_for``): a retry or a resumed crash can
never insert it twice.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select, update

from ..checks.nft_join_ipfs import ref_key
from ..db.models import TABLES, utcnow
from ..layers.cid import parse_ipfs_uri
from .actions import Action
from .context import ApplyContext, RepairRefused, StateChanged

OPS, REGISTRY = TABLES["minting_operations"], TABLES["source_image_registry"]
COMPARED = ("id", "status", "metadata_uri", "image_uri", "failure_reason", "mint_address", "level")


def read_row(ctx: ApplyContext, op_id: str) -> dict | None:
    with ctx.db.connect() as conn:
        row = conn.execute(select(OPS).where(OPS.c.id == op_id)).mappings().first()
    return {column: row[column] for column in COMPARED} if row else None


def _rows_for_mint(ctx: ApplyContext, mint: str) -> list[str]:
    with ctx.db.connect() as conn:
        return [r[0] for r in conn.execute(select(OPS.c.id).where(OPS.c.mint_address == mint))]


def _wanted(action: Action) -> dict:
    target = action.target
    return dict(target.get("set") or {k: target["create"][k] for k in ("status", "metadata_uri", "image_uri")})


def _same(column: str, left: Any, right: Any) -> bool:
    if column in ("metadata_uri", "image_uri") and isinstance(left, str) and isinstance(right, str):
        return (ref_key(left) or left) == (ref_key(right) or right)
    return left == right


class DatabaseRepair:
    """DB_RECORD_FROM_CHAIN, DB_STATUS_FROM_CHAIN, DB_MARK_FAILED, DB_UPDATE_URIS_FROM_CHAIN, DB_UPDATE_IMAGE_URI_..."""

    def current(self, ctx: ApplyContext, action: Action) -> dict:
        return {"row": read_row(ctx, action.target["op_id"])}

    def done(self, action: Action, current: dict) -> bool:
        row = current["row"]
        return row is not None and all(_same(c, row.get(c), v) for c, v in _wanted(action).items())

    def write(self, ctx: ApplyContext, action: Action, current: dict) -> dict:
        if "create" in action.target:
            return self._create(ctx, action, current)
        row = current["row"]
        if row is None:
            raise StateChanged(f"minting_operations row {action.target['op_id']} no longer exists")
        changed = [c for c, seen in action.before.items() if not _same(c, row.get(c), seen)]
        if changed:
            raise StateChanged(f"the row's {', '.join(changed)} changed since the plan")
        updates = _wanted(action)
        where = OPS.c.id == row["id"]
        for column in action.before:
            where = where & (OPS.c[column].is_(None) if row[column] is None else OPS.c[column] == row[column])
        with ctx.db_write.connect(write=True) as conn:
            written = conn.execute(update(OPS).where(where).values(**updates, updated_at=utcnow())).rowcount
        if written != 1:
            raise StateChanged("the row changed while it was being written")
        return {"row": read_row(ctx, row["id"])}

    def _create(self, ctx: ApplyContext, action: Action, current: dict) -> dict:
        values = dict(action.target["create"])
        if current["row"] is not None:
            raise StateChanged(f"a row with id {values['id']} exists but differs")
        others = _rows_for_mint(ctx, values["mint_address"])
        if others:
            raise RepairRefused(f"rows {others} already hold mint {values['mint_address']}: not creating another")
        with ctx.db.connect() as conn:
            path = conn.execute(select(REGISTRY.c.file_path).where(REGISTRY.c.level == values["level"])).scalar()
        values["source_image_path"] = path or f"assets/images/{values['level']}.png"
        stamp = utcnow()
        with ctx.db_write.connect(write=True) as conn:
            conn.execute(insert(OPS).values(**values, created_at=stamp, updated_at=stamp, retry_count=0))
        return {"row": read_row(ctx, values["id"])}

    def verify(self, ctx: ApplyContext, action: Action) -> dict:
        row = read_row(ctx, action.target["op_id"])
        if row is None or not self.done(action, {"row": row}):
            return {"ok": False, "problem": "the row does not hold the repaired values", "row": row}
        judged = _judge(ctx, action, row)
        return {"ok": judged.get("problem") is None, "row": row, **judged}


def _judge(ctx: ApplyContext, action: Action, row: dict) -> dict:
    """Re-read the truth the repair copied and compare it with the row."""
    if action.repair == "DB_UPDATE_IMAGE_URI_FROM_IPFS":
        return _judge_image(ctx, row)
    mint = action.target.get("mint")
    if action.repair in ("DB_STATUS_FROM_CHAIN", "DB_MARK_FAILED"):
        return _judge_failed(ctx, action, mint)
    read = ctx.run(ctx.solana.metadata_for_mints([mint]))[mint]
    if read.status != "ok":
        return {"problem": f"metadata account now reads {read.status}", "chain_read": read.status}
    if "metadata_uri" in _wanted(action) and not _same("metadata_uri", read.metadata.uri, row["metadata_uri"]):
        return {"problem": "metadata_uri differs from the on-chain URI", "chain_uri": read.metadata.uri}
    return {"chain_uri": read.metadata.uri}


def _judge_failed(ctx: ApplyContext, action: Action, mint: str | None) -> dict:
    signature = action.truth.get("tx_signature")
    if signature:
        status = ctx.run(ctx.solana.signature_statuses([signature]))[signature]
        if status.status == "unavailable" or (status.status == "ok" and status.succeeded):
            return {"problem": f"the transaction now reads {status.status} (succeeded={status.succeeded})"}
    if mint and action.repair == "DB_STATUS_FROM_CHAIN":
        read = ctx.run(ctx.solana.metadata_for_mints([mint]))[mint]
        if read.status != "missing":
            return {"problem": f"the metadata account now reads {read.status}"}
    return {"tx_signature": signature}


def _judge_image(ctx: ApplyContext, row: dict) -> dict:
    ref = parse_ipfs_uri(row["metadata_uri"] or "")
    if ref is None:
        return {"problem": "metadata_uri is not an IPFS reference"}
    read = ctx.run(ctx.gateways.fetch(*ref))
    if read.status != "ok" or read.content is None:
        return {"problem": f"metadata now reads {read.status}"}
    try:
        image = json.loads(read.content).get("image")
    except (ValueError, AttributeError):
        return {"problem": "metadata is not a JSON object"}
    if not _same("image_uri", image, row["image_uri"]):
        return {"problem": "image_uri differs from the metadata's image", "json_image": image}
    return {"json_image": image}
