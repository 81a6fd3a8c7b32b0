"""NFT checks of the database's business state against the chain.

BLOCKCHAIN_SUCCESS_DATABASE_FAILURE, DB_PENDING_TX_FAILED, DB_STUCK_PENDING and DB_DUPLICATE_MINT, pure
functions of the joined frame. DB_STUCK_PENDING is only said when no sharper diagnosis applies
(DB_PENDING_TX_FAILED, BLOCKCHAIN_SUCCESS_DATABASE_FAILURE, TX_FAILED_DB_CONFIRMED), and is unknown while
one of those is unknown. Chain-only mints are only found by listing our update authority: when that
listing failed they are never "no row" (``nft_checks.whole_unknowns`` adds the entity ``*`` unknown).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from ..settings import Settings
from .nft_checks_chain import chain_is, chain_reason, db_ok, db_reason, tx_failed_verdict, tx_reason
from .nft_checks_common import Verdict, emit, emit_verdict, flag, isin, pick, present
from .nft_join import MINTED, PRE_CHAIN, TERMINAL


def utc(now: datetime | None) -> pd.Timestamp:
    stamp = pd.Timestamp(now or datetime.now(UTC))
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def age_s(nft: pd.DataFrame, now: datetime | None) -> pd.Series:
    """Seconds since the DB row last changed (updated_at, else created_at); NaN without a DB row."""
    updated = pd.to_datetime(nft["db_updated_at"], utc=True)
    created = pd.to_datetime(nft["db_created_at"], utc=True)
    return (utc(now) - updated.fillna(created)).dt.total_seconds()


def _stale(nft: pd.DataFrame, settings: Settings, now: datetime | None) -> pd.Series:
    return (age_s(nft, now) > settings.reconciliation.stuck_pending_after_s).fillna(False).astype(bool)


# -- chain has it, the DB does not say so --------------------------------------------------------
def _bsdf_cases(nft: pd.DataFrame, settings: Settings, now: datetime | None) -> dict[str, pd.Series]:
    ours = settings.solana.update_authority
    our_mint = flag(nft["chain_listed"]) | (flag(nft["chain_update_authority"], ours) if ours else False)
    db_row = db_ok(nft) & present(nft["mint"])
    return {
        "no_db_row": flag(nft["db_read"], "missing") & our_mint,
        "db_failed": db_row & flag(nft["db_status"], "FAILED"),
        "stale_pending": db_row & isin(nft["db_status"], PRE_CHAIN) & _stale(nft, settings, now),
        "db_unreadable": flag(nft["db_read"], "unavailable") & our_mint,
    }


def bsdf_verdict(nft: pd.DataFrame, settings: Settings, now: datetime | None = None) -> Verdict:
    cases = _bsdf_cases(nft, settings, now)
    judged = cases["no_db_row"] | cases["db_failed"] | cases["stale_pending"]
    chain_ok = chain_is(nft, "ok")
    unknown = (cases["db_unreadable"] & chain_ok) | (judged & chain_is(nft, "unavailable"))
    return Verdict.of(judged & chain_ok, unknown)


def check_blockchain_success_database_failure(
    nft: pd.DataFrame, settings: Settings, *, now: datetime | None = None
) -> pd.DataFrame:
    cases = _bsdf_cases(nft, settings, now)
    case = pd.Series(None, index=nft.index, dtype="object")
    for name, mask in cases.items():
        case = pick(mask & case.isna(), name, case)
    rows = nft.assign(case=case, age_s=age_s(nft, now).round())
    reason = db_reason(nft).where(flag(nft["db_read"], "unavailable"), chain_reason(nft))
    details = ["case", "op_id", "db_status", "age_s", "chain_uri"]
    verdict = bsdf_verdict(nft, settings, now)
    return emit_verdict("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", rows, verdict, details=details, reason=reason)


# -- pending rows --------------------------------------------------------------------------------
def pending_tx_failed_verdict(nft: pd.DataFrame) -> Verdict:
    base = db_ok(nft) & isin(nft["db_status"], PRE_CHAIN) & present(nft["db_tx_signature"])
    failed = flag(nft["tx_read"], "ok") & flag(nft["tx_succeeded"], False)
    return Verdict.of(base & failed, base & flag(nft["tx_read"], "unavailable"))


def check_db_pending_tx_failed(nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    details = ["op_id", "db_status", "db_tx_signature", "tx_err"]
    verdict = pending_tx_failed_verdict(nft)
    return emit_verdict("DB_PENDING_TX_FAILED", nft, verdict, details=details, reason=tx_reason(nft))


def stuck_pending_verdict(nft: pd.DataFrame, settings: Settings, now: datetime | None = None) -> Verdict:
    status = nft["db_status"]
    stuck = db_ok(nft) & present(status) & ~isin(status, TERMINAL) & _stale(nft, settings, now)
    sharper = [pending_tx_failed_verdict(nft), bsdf_verdict(nft, settings, now), tx_failed_verdict(nft)]
    sharper_fail = pd.concat([v.fail for v in sharper], axis=1).any(axis=1)
    sharper_unknown = pd.concat([v.unknown for v in sharper], axis=1).any(axis=1)
    return Verdict.of(stuck & ~sharper_fail & ~sharper_unknown, stuck & ~sharper_fail & sharper_unknown)


def check_db_stuck_pending(nft: pd.DataFrame, settings: Settings, *, now: datetime | None = None) -> pd.DataFrame:
    rows = nft.assign(age_s=age_s(nft, now).round(), timeout_s=settings.reconciliation.stuck_pending_after_s)
    reason = "a sharper diagnosis (transaction or chain state) could not be read"
    details = ["mint", "db_status", "age_s", "timeout_s"]
    verdict = stuck_pending_verdict(nft, settings, now)
    return emit_verdict("DB_STUCK_PENDING", rows, verdict, details=details, reason=reason, entity="op_id")


def check_db_duplicate_mint(nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """More than one minted operation for a (wallet, level); only groups of several operations are aggregated."""
    minted = nft[db_ok(nft) & isin(nft["db_status"], MINTED) & present(nft["wallet"]) & present(nft["db_level"])]
    operations = minted.groupby(["wallet", "db_level"], dropna=True)["op_id"].transform("nunique")
    minted = minted[operations.fillna(0) > 1]
    grouped = minted.groupby(["wallet", "db_level"], sort=True).agg(
        op_ids=("op_id", lambda ids: sorted(set(ids))), mints=("mint", lambda m: sorted(set(m.dropna())))
    )
    duplicates = grouped[grouped["op_ids"].map(len) > 1].reset_index()
    duplicates["wallet_level"] = duplicates["wallet"].astype(str) + ":" + duplicates["db_level"].astype(str)
    details = ["wallet", "db_level", "op_ids", "mints"]
    return emit("DB_DUPLICATE_MINT", duplicates, details=details, entity="wallet_level")
