"""Write a run's findings to the database: the findings table, the consistency_checks audit trail, run history.

The Parquet copy of the findings is written by the IO manager; this is the SQL side. A database that
cannot be written is reported (and logged), not raised: the run's findings stay in Parquet.

The three are written in **one transaction** (:meth:`DatabaseClient.write_run`): a run killed while recording
leaves its findings, audit rows and history row all or none, never some; writing a run id again
replaces its rows (a retried run is recorded once). Runs at once write disjoint rows (their run ids).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy.dialects import postgresql, sqlite

from . import clients
from .checks.audit import audit_rows
from .checks.findings import findings_records
from .layers.errors import LayerError
from .settings import Settings

_DIALECT_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def rehydrated_block_numbers(settings: Settings) -> set[int]:
    """Blocks a verified repair rehydrated (seed 004's ``rehydrated`` status); empty if the ledger is unreadable."""
    from .repairs.ledger import rehydrated_blocks

    try:
        with clients.database_client(settings) as client:
            return rehydrated_blocks(client)
    except Exception:  # noqa: BLE001  no ledger yet (never migrated) is not an error here
        return set()


def judged_entities(nft: pd.DataFrame, blocks: pd.DataFrame) -> pd.DataFrame:
    """Every entity a run judged: NFT rows (with their operation id) and block numbers."""
    nft_part = pd.DataFrame(
        {
            "entity_type": nft.get("entity_type", pd.Series(dtype=object)),
            "entity_id": nft.get("entity_id", pd.Series(dtype=object)),
            "operation_id": nft.get("op_id", pd.Series(dtype=object)),
            "domain": "nft",
        }
    )
    numbers = blocks.get("block_number", pd.Series(dtype="Int64")).dropna().astype(int)
    block_part = pd.DataFrame(
        {"entity_type": "block", "entity_id": numbers.astype(str), "operation_id": None, "domain": "block"}
    )
    return pd.concat([nft_part, block_part], ignore_index=True)


def _operation_ids(client, entities: pd.DataFrame) -> pd.DataFrame:
    """Keep only operation ids the DB has (the audit rows reference minting_operations)."""
    known = set(client.read_minting_operations()["id"])
    return entities.assign(operation_id=entities["operation_id"].where(entities["operation_id"].isin(known), None))


def record_findings(
    settings: Settings,
    run_id: str,
    cadence: str,
    findings: pd.DataFrame,
    nft: pd.DataFrame,
    blocks: pd.DataFrame,
    log: logging.Logger | None = None,
    metrics: dict | None = None,
) -> dict:
    """Write findings, audit rows and the run's history row (with ``metrics``: seed 000's consistencyMetrics and
    the block statuses). Returns what was written (for metadata)."""
    now = datetime.now(UTC)
    counts = {f"{k}": int(v) for k, v in findings["status"].value_counts().items()}
    try:
        with clients.database_client(settings) as client:
            entities = _operation_ids(client, judged_entities(nft, blocks))
            rows = audit_rows(findings, entities, now)
            history = {"cadence": cadence, "started_at": now, "finished_at": now, "status": "SUCCESS", "counts": counts,
                       "metrics": json.loads(json.dumps(metrics, default=int)) if metrics else None}  # fmt: skip
            client.write_run(run_id, findings_records(findings), rows, history)
    except LayerError as exc:
        if log is not None:
            log.warning(f"findings not written to the database: {exc}")
        return {"audit_written": False, "audit_error": str(exc)[:500]}
    return {"audit_written": True, "audit_rows": len(rows)}
