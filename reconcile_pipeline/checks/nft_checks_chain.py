"""NFT checks of the Solana layer against the database: CHAIN_* and TX_FAILED_DB_CONFIRMED.

Each check is a pure function of the joined frame (:func:`..nft_join.build_nft_consistency`) and the
settings. A chain read that failed (``chain_read``/``tx_read`` ``unavailable``) makes the check unknown for
that row. (A layer unreadable as a whole adds entity ``*`` unknowns: :func:`.nft_checks.whole_unknowns`.)
"""

from __future__ import annotations

import pandas as pd

from ..settings import Settings
from .findings import empty_findings
from .nft_checks_common import Verdict, emit_verdict, flag, isin, layer_reason, present
from .nft_join import MINTED
from .nft_join_keys import same_reference


def db_unreadable(nft: pd.DataFrame) -> str | None:
    """Why the database could not be read (from the joined frame's attrs), or None."""
    return (nft.attrs.get("unreadable") or {}).get("database")


def db_ok(nft: pd.DataFrame) -> pd.Series:
    return flag(nft["db_read"], "ok")


def chain_is(nft: pd.DataFrame, *statuses: str) -> pd.Series:
    return isin(nft["chain_read"], statuses)


def chain_reason(nft: pd.DataFrame) -> pd.Series:
    return layer_reason("solana metadata account", nft["chain_error"])


def tx_reason(nft: pd.DataFrame) -> pd.Series:
    return layer_reason("solana transaction status", nft["tx_err"])


def db_reason(nft: pd.DataFrame) -> pd.Series:
    return layer_reason("database", nft["db_error"])


# -- transaction -------------------------------------------------------------------------------
def tx_failed_verdict(nft: pd.DataFrame) -> Verdict:
    """DB says minted, while the mint transaction failed or is unknown to the cluster (a malformed signature,
    ``tx_read`` ``invalid``, can never be on it)."""
    base = db_ok(nft) & isin(nft["db_status"], MINTED) & present(nft["db_tx_signature"])
    failed = flag(nft["tx_read"], "ok") & flag(nft["tx_succeeded"], False)
    absent = isin(nft["tx_read"], ["missing", "invalid"])
    return Verdict.of(base & (failed | absent), base & flag(nft["tx_read"], "unavailable"))


def check_tx_failed_db_confirmed(nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    details = ["op_id", "db_status", "db_tx_signature", "tx_read", "tx_err"]
    return emit_verdict("TX_FAILED_DB_CONFIRMED", nft, tx_failed_verdict(nft), details=details, reason=tx_reason(nft))


# -- metadata account --------------------------------------------------------------------------
def chain_missing_verdict(nft: pd.DataFrame) -> Verdict:
    """DB says minted, no (valid) metadata account; a failed transaction is the sharper diagnosis."""
    base = db_ok(nft) & isin(nft["db_status"], MINTED) & present(nft["mint"])
    sharper = tx_failed_verdict(nft)
    absent = base & chain_is(nft, "missing", "invalid")
    fail = absent & ~sharper.fail & ~sharper.unknown
    unknown = (base & chain_is(nft, "unavailable")) | (absent & sharper.unknown)
    return Verdict.of(fail, unknown)


def check_chain_metadata_missing(nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    verdict = chain_missing_verdict(nft)
    reason = chain_reason(nft).where(chain_is(nft, "unavailable"), "mint transaction status unreadable")
    details = ["op_id", "db_status", "chain_read", "chain_error"]
    return emit_verdict("CHAIN_METADATA_MISSING", nft, verdict, details=details, reason=reason)


def check_chain_uri_mismatch(nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The on-chain URI and the DB's metadata_uri name different objects (URI forms of one CID agree)."""
    chain_ok = chain_is(nft, "ok")
    differs = ~same_reference(nft["chain_uri"], nft["db_metadata_uri"])
    fail = db_ok(nft) & chain_ok & differs
    chain_unknown = db_ok(nft) & chain_is(nft, "unavailable")
    db_unknown = flag(nft["db_read"], "unavailable") & chain_ok
    reason = chain_reason(nft).where(chain_unknown, db_reason(nft))
    verdict = Verdict.of(fail, chain_unknown | db_unknown)
    return emit_verdict("CHAIN_URI_MISMATCH", nft, verdict, details=["chain_uri", "db_metadata_uri"], reason=reason)


def check_chain_metadata_mutable(nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    if not settings.solana.require_immutable:
        return empty_findings()
    verdict = Verdict.of(chain_is(nft, "ok") & flag(nft["chain_is_mutable"], True), chain_is(nft, "unavailable"))
    return emit_verdict("CHAIN_METADATA_MUTABLE", nft, verdict, details=["chain_is_mutable"], reason=chain_reason(nft))


def check_chain_authority_unexpected(nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    ours = settings.solana.update_authority
    if not ours:
        return empty_findings()
    foreign = chain_is(nft, "ok") & ~flag(nft["chain_update_authority"], ours)
    verdict = Verdict.of(foreign, chain_is(nft, "unavailable"))
    rows = nft.assign(expected_update_authority=ours)
    details = ["chain_update_authority", "expected_update_authority"]
    return emit_verdict("CHAIN_AUTHORITY_UNEXPECTED", rows, verdict, details=details, reason=chain_reason(nft))
