"""Every NFT check of the catalogue (DESIGN §3) over the joined frame: fail and unknown findings.

:func:`run_nft_checks` builds ``nft_consistency`` from the snapshot frames and runs every check;
:func:`nft_findings` runs them on a joined frame already built (the Dagster asset's path). Each check is
one pure function in ``nft_checks_source`` / ``_chain`` / ``_db`` / ``_ipfs`` / ``_cid`` / ``_partner``;
findings come out in catalogue order, then by entity. Unknown is not missing: a check whose layer could
not be read says ``unknown`` with the reason, never ``fail``. When a layer could not be read as a whole,
the entities only it would have named cannot be listed: each check that would judge them gets one
unknown finding with entity ``*`` (:data:`WHOLE_LAYER_UNKNOWNS`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

import pandas as pd

from ..settings import Settings
from .catalogue import CATALOGUE, NFT_CHECKS
from .findings import concat_findings
from .nft_checks_chain import (
    check_chain_authority_unexpected,
    check_chain_metadata_missing,
    check_chain_metadata_mutable,
    check_chain_uri_mismatch,
    check_tx_failed_db_confirmed,
)
from .nft_checks_cid import check_ipfs_cid_integrity, check_ipfs_not_pinned, check_ipfs_propagation_partial, cid_objects
from .nft_checks_common import whole_check_unknown
from .nft_checks_db import (
    check_blockchain_success_database_failure,
    check_db_duplicate_mint,
    check_db_pending_tx_failed,
    check_db_stuck_pending,
    utc,
)
from .nft_checks_ipfs import (
    check_database_success_ipfs_failure,
    check_db_ipfs_reference_mismatch,
    check_ipfs_metadata_invalid,
    check_ipfs_source_mismatch,
)
from .nft_checks_metrics import nft_metrics
from .nft_checks_partner import check_partner_verification_failed
from .nft_checks_source import (
    check_source_invalid,
    check_source_missing,
    check_source_missing_active_nft,
    check_source_registry_drift,
    source_levels,
)
from .nft_join import build_nft_consistency, unreadable_layers

__all__ = ["LEVEL_CHECKS", "NFT_ROW_CHECKS", "CID_CHECKS", "nft_findings", "nft_metrics", "run_nft_checks"]

Check = Callable[[pd.DataFrame, Settings], pd.DataFrame]

LEVEL_CHECKS: dict[str, Check] = {
    "SOURCE_MISSING": check_source_missing,
    "SOURCE_INVALID": check_source_invalid,
    "SOURCE_REGISTRY_DRIFT": check_source_registry_drift,
    "SOURCE_MISSING_ACTIVE_NFT": check_source_missing_active_nft,
}
NFT_ROW_CHECKS: dict[str, Check] = {
    "CHAIN_METADATA_MISSING": check_chain_metadata_missing,
    "CHAIN_URI_MISMATCH": check_chain_uri_mismatch,
    "CHAIN_METADATA_MUTABLE": check_chain_metadata_mutable,
    "CHAIN_AUTHORITY_UNEXPECTED": check_chain_authority_unexpected,
    "TX_FAILED_DB_CONFIRMED": check_tx_failed_db_confirmed,
    "BLOCKCHAIN_SUCCESS_DATABASE_FAILURE": check_blockchain_success_database_failure,  # takes now=
    "DB_PENDING_TX_FAILED": check_db_pending_tx_failed,
    "DB_STUCK_PENDING": check_db_stuck_pending,  # takes now=
    "DB_DUPLICATE_MINT": check_db_duplicate_mint,
    "DATABASE_SUCCESS_IPFS_FAILURE": check_database_success_ipfs_failure,
    "IPFS_METADATA_INVALID": check_ipfs_metadata_invalid,
    "IPFS_SOURCE_MISMATCH": check_ipfs_source_mismatch,
    "DB_IPFS_REFERENCE_MISMATCH": check_db_ipfs_reference_mismatch,
    "PARTNER_VERIFICATION_FAILED": check_partner_verification_failed,
}
CID_CHECKS: dict[str, Check] = {
    "IPFS_CID_INTEGRITY": check_ipfs_cid_integrity,
    "IPFS_NOT_PINNED": check_ipfs_not_pinned,
    "IPFS_PROPAGATION_PARTIAL": check_ipfs_propagation_partial,
}
TIMED = frozenset({"BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", "DB_STUCK_PENDING"})
WHOLE_LAYER_UNKNOWNS: dict[str, tuple[str, tuple[str, ...]]] = {
    # layer unreadable as a whole -> (what cannot be seen, the checks that would judge those unseen entities)
    "database": (
        "rows only the database names (mints not on chain, operations) cannot be seen",
        (
            "CHAIN_METADATA_MISSING",
            "CHAIN_METADATA_MUTABLE",
            "CHAIN_AUTHORITY_UNEXPECTED",
            "TX_FAILED_DB_CONFIRMED",
            "DB_PENDING_TX_FAILED",
            "DB_STUCK_PENDING",
            "DB_DUPLICATE_MINT",
            "DATABASE_SUCCESS_IPFS_FAILURE",
            "DB_IPFS_REFERENCE_MISMATCH",
            "PARTNER_VERIFICATION_FAILED",
        ),
    ),
    "listing": (
        "mints only the chain holds (no DB row) cannot be found",
        ("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", "CHAIN_METADATA_MUTABLE", "PARTNER_VERIFICATION_FAILED"),
    ),
}
assert set(LEVEL_CHECKS) | set(NFT_ROW_CHECKS) | set(CID_CHECKS) == set(NFT_CHECKS), "every NFT check has a function"


def _ordered(findings: pd.DataFrame) -> pd.DataFrame:
    order = {check_id: position for position, check_id in enumerate(CATALOGUE)}
    keys = findings.assign(_order=findings["check_id"].map(order))
    return (
        keys.sort_values(["_order", "entity_id", "status"], kind="stable").drop(columns="_order").reset_index(drop=True)
    )


def whole_unknowns(nft: pd.DataFrame) -> list[pd.DataFrame]:
    """Entity ``*`` unknowns for the checks whose entities an unreadable layer would have named."""
    unreadable = nft.attrs.get("unreadable") or {}
    parts = []
    for layer, (unseen, check_ids) in WHOLE_LAYER_UNKNOWNS.items():
        if layer in unreadable:
            reason = f"{unseen}: {unreadable[layer]}"
            parts += [whole_check_unknown(check_id, reason) for check_id in check_ids]
    return parts


def nft_findings(
    nft: pd.DataFrame, frames: dict[str, pd.DataFrame], settings: Settings, *, now: datetime | None = None
) -> pd.DataFrame:
    """All NFT findings for a joined frame (``frames`` supplies the source images and the registry)."""
    when = utc(now).to_pydatetime()
    if "unreadable" not in nft.attrs:  # e.g. read back by an IO manager that drops attrs
        nft = nft.copy()
        nft.attrs["unreadable"] = unreadable_layers(frames, settings)
    levels, objects = source_levels(frames, nft, settings), cid_objects(nft)
    parts = [check(levels, settings) for check in LEVEL_CHECKS.values()]
    for check_id, check in NFT_ROW_CHECKS.items():
        run = partial(check, now=when) if check_id in TIMED else check
        parts.append(run(nft, settings))
    parts += [check(objects, settings) for check in CID_CHECKS.values()]
    parts += whole_unknowns(nft)
    return _ordered(concat_findings(parts))


def run_nft_checks(frames: dict[str, pd.DataFrame], settings: Settings, *, now: datetime | None = None) -> pd.DataFrame:
    """Build ``nft_consistency`` from the snapshot frames and return every NFT finding (fail and unknown)."""
    return nft_findings(build_nft_consistency(frames, settings), frames, settings, now=now)
