"""Per-NFT IPFS checks: DATABASE_SUCCESS_IPFS_FAILURE, IPFS_METADATA_INVALID, IPFS_SOURCE_MISMATCH,
DB_IPFS_REFERENCE_MISMATCH.

They follow the on-chain URI (the truth) and fall back to the DB's when the chain has no account. When
the chain could not be read the DB's URI is still judged, but a failure there is only *unknown* (the
truth URI may name other content): ``uri_is_truth`` in the joined frame. A metadata URI that is no IPFS
reference (``refused``) is left to PARTNER_VERIFICATION_FAILED (one cause, one finding).
IPFS_SOURCE_MISMATCH is only judged where the level's source image is valid and matches the registry.
"""

from __future__ import annotations

import pandas as pd

from ..settings import Settings
from .nft_checks_chain import chain_is, db_ok, db_reason
from .nft_checks_common import Verdict, emit_verdict, flag, isin, pick, present, text
from .nft_join import MINTED
from .nft_join_keys import omap, same_reference

TRUTH_UNKNOWN = "on-chain URI unreadable: the DB's metadata URI fails this check, the truth is unknown"


def first_reason(nft: pd.DataFrame, cases: list[tuple[pd.Series, pd.Series | str]]) -> pd.Series:
    """Per row, the reason of the first case whose mask holds."""
    reason = pd.Series(None, index=nft.index, dtype="object")
    for mask, message in reversed(cases):
        reason = pick(mask, message, reason)
    return reason


def _gateway_reason(nft: pd.DataFrame, prefix: str) -> pd.Series:
    return omap(nft[f"{prefix}_error"], lambda e: f"IPFS gateways unreadable for the {prefix}: {e}")


def _settled(nft: pd.DataFrame) -> pd.Series:
    return flag(nft["uri_is_truth"])


def _db_unknown(nft: pd.DataFrame) -> pd.Series:
    return flag(nft["db_read"], "unavailable") & chain_is(nft, "ok")


# -- DATABASE_SUCCESS_IPFS_FAILURE --------------------------------------------------------------
def check_database_success_ipfs_failure(nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The DB says minted; the metadata JSON, or the image it names, is on no gateway."""
    meta = nft["metadata_read"]
    meta_gone = flag(meta, "missing") | (flag(meta, "invalid") & (nft["metadata_gateways_integrity"] > 0))
    image_gone = flag(meta, "ok") & isin(nft["image_read"], ["missing", "invalid"])
    meta_unknown = flag(meta, "unavailable")
    image_unknown = flag(meta, "ok") & flag(nft["image_read"], "unavailable")
    gone, unread = meta_gone | image_gone, meta_unknown | image_unknown
    minted = db_ok(nft) & isin(nft["db_status"], MINTED)
    settled = _settled(nft)
    unknown = (minted & (unread | (gone & ~settled))) | (_db_unknown(nft) & (gone | unread))
    reason = first_reason(
        nft,
        [
            (meta_unknown, _gateway_reason(nft, "metadata")),
            (image_unknown, _gateway_reason(nft, "image")),
            (_db_unknown(nft), db_reason(nft)),
            (gone & ~settled, TRUTH_UNKNOWN),
        ],
    )
    rows = nft.assign(unretrievable=pick(meta_gone, "metadata", pick(image_gone, "image", None)))
    details = [
        "unretrievable",
        "metadata_uri",
        "metadata_uri_source",
        "metadata_cid",
        "metadata_read",
        "metadata_error",
        "image_uri",
        "image_cid",
        "image_read",
    ]
    return emit_verdict(
        "DATABASE_SUCCESS_IPFS_FAILURE",
        rows,
        Verdict.of(minted & gone & settled, unknown),
        details=details,
        reason=reason,
    )


# -- IPFS_METADATA_INVALID ----------------------------------------------------------------------
def check_ipfs_metadata_invalid(nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Not JSON, required fields missing, or the metadata's level differs from the DB's."""
    meta = nft["metadata_read"]
    readable = flag(meta, "ok") | (flag(meta, "invalid") & (nft["metadata_gateways_integrity"] == 0))
    bad_json = readable & present(nft["json_error"])
    valid = readable & ~present(nft["json_error"])
    level_differs = (
        valid
        & db_ok(nft)
        & present(nft["db_level"])
        & (nft["json_level"].astype("object") != nft["db_level"].astype("object"))
    )
    invalid = bad_json | level_differs
    settled = _settled(nft)
    db_unknown = valid & flag(nft["db_read"], "unavailable")
    unknown = flag(meta, "unavailable") | (invalid & ~settled) | db_unknown
    reason = first_reason(
        nft,
        [
            (flag(meta, "unavailable"), _gateway_reason(nft, "metadata")),
            (db_unknown, db_reason(nft)),
            (invalid & ~settled, TRUTH_UNKNOWN),
        ],
    )
    problem = pick(
        bad_json,
        nft["json_error"],
        "metadata level " + text(nft["json_level"]) + " differs from the DB's " + text(nft["db_level"]),
    )
    rows = nft.assign(problem=problem)
    details = ["problem", "metadata_uri", "metadata_cid", "json_level", "db_level"]
    return emit_verdict(
        "IPFS_METADATA_INVALID", rows, Verdict.of(invalid & settled, unknown), details=details, reason=reason
    )


# -- IPFS_SOURCE_MISMATCH -----------------------------------------------------------------------
def check_ipfs_source_mismatch(nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The image bytes differ from the level's source image (judged only on a valid, registered source)."""
    image_ok = flag(nft["image_read"], "ok") & present(nft["image_sha256"])
    source_ok = flag(nft["source_read"], "ok") & present(nft["source_sha256"])
    same = nft["image_sha256"].astype("object") == nft["source_sha256"].astype("object")
    differs = image_ok & source_ok & ~same.fillna(False)
    registered = flag(nft["source_matches_registry"], True)
    registry_unknown = source_ok & flag(nft["registry_read"], "unavailable")
    level_known = ~flag(nft["db_read"], "unavailable")
    settled = _settled(nft)
    source_unread = flag(nft["source_read"], "unavailable")
    judgeable = ~isin(nft["source_read"], ["missing", "invalid", "not_expected", "none"]) & ~flag(
        nft["source_matches_registry"], False
    )
    image_unread = flag(nft["image_read"], "unavailable") & judgeable
    unknown = (differs & (registry_unknown | ~settled | ~level_known)) | image_unread | (image_ok & source_unread)
    fail = differs & registered & settled & level_known
    reason = first_reason(
        nft,
        [
            (image_unread, _gateway_reason(nft, "image")),
            (source_unread, "source images unreadable: " + text(nft["source_error"])),
            (registry_unknown, "registry unreadable: whether the source image is the registered one"),
            (~level_known, db_reason(nft)),
            (~settled, TRUTH_UNKNOWN),
        ],
    )
    details = ["check_level", "image_uri", "image_cid", "image_sha256", "source_sha256", "registry_hash"]
    return emit_verdict("IPFS_SOURCE_MISMATCH", nft, Verdict.of(fail, unknown), details=details, reason=reason)


# -- DB_IPFS_REFERENCE_MISMATCH -----------------------------------------------------------------
def check_db_ipfs_reference_mismatch(nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The DB's image_uri names another object than the metadata's ``image`` (URI forms of one CID agree)."""
    applicable = db_ok(nft) & (present(nft["db_image_uri"]) | isin(nft["db_status"], MINTED))
    image_known = flag(nft["json_parsed"]) & present(nft["json_image"])
    differs = image_known & ~same_reference(nft["db_image_uri"], nft["json_image"])
    settled = _settled(nft)
    meta_unknown = applicable & flag(nft["metadata_read"], "unavailable")
    db_unknown = flag(nft["db_read"], "unavailable") & image_known
    unknown = meta_unknown | (applicable & differs & ~settled) | db_unknown
    reason = first_reason(
        nft,
        [
            (meta_unknown, _gateway_reason(nft, "metadata")),
            (db_unknown, db_reason(nft)),
            (~settled, TRUTH_UNKNOWN),
        ],
    )
    details = ["db_image_uri", "json_image", "metadata_uri"]
    return emit_verdict(
        "DB_IPFS_REFERENCE_MISMATCH",
        nft,
        Verdict.of(applicable & differs & settled, unknown),
        details=details,
        reason=reason,
    )
