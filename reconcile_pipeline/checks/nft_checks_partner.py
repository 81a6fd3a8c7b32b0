"""PARTNER_VERIFICATION_FAILED: the flow an outside partner runs, chain -> URI -> JSON -> level -> image.

A partner knows only the chain and IPFS: it reads the mint's metadata account, takes its URI (it must be
an IPFS reference a gateway can serve), fetches the JSON, reads the ``Level`` attribute (one of the
supported levels) and fetches the image it names. It runs for every mint the chain has and every mint
the DB says exists. The first step that fails is ``details.step``; a step that could not be read makes
the flow unknown (never failed) unless an earlier step already failed. The repair follows the step: a
JSON or image that no gateway has is re-pinned, anything else goes to manual review.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..settings import Settings
from .nft_checks_chain import chain_is, db_ok
from .nft_checks_common import Verdict, emit_verdict, flag, isin, present, text
from .nft_join import MINTED

STEPS = ("chain", "uri", "json", "level", "image")


def _step_masks(nft: pd.DataFrame, settings: Settings) -> list[tuple[str, pd.Series, pd.Series, pd.Series | str]]:
    """(step, fail, unknown, problem) in flow order."""
    meta, image = nft["metadata_read"], nft["image_read"]
    levels = list(settings.source_images.supported_levels)
    json_problem = present(nft["json_error"])
    return [
        (
            "chain",
            chain_is(nft, "missing", "invalid"),
            chain_is(nft, "unavailable"),
            "metadata account " + text(nft["chain_read"]) + ": " + text(nft["chain_error"]),
        ),
        (
            "uri",
            flag(meta, "refused") | ~present(nft["chain_uri"]),
            pd.Series(False, index=nft.index),
            "on-chain URI is not an IPFS reference a gateway can serve: " + text(nft["metadata_error"]),
        ),
        (
            "json",
            isin(meta, ["missing", "invalid"]) | (flag(meta, "ok") & ~flag(nft["json_parsed"])),
            flag(meta, "unavailable"),
            "metadata JSON " + text(meta) + ": " + text(nft["json_error"].where(json_problem, nft["metadata_error"])),
        ),
        (
            "level",
            ~isin(nft["json_level"], levels),
            pd.Series(False, index=nft.index),
            "Level attribute " + text(nft["json_level"]) + " is not one of " + ", ".join(levels),
        ),
        (
            "image",
            ~present(nft["json_image"]) | isin(image, ["missing", "invalid", "refused", "none"]),
            flag(image, "unavailable"),
            "image " + text(image) + ": " + text(nft["image_error"]),
        ),
    ]


def partner_outcome(nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Per row: ``applicable``, ``state`` (pass | fail | unknown | None), ``step`` and ``problem``."""
    applicable = present(nft["mint"]) & (chain_is(nft, "ok") | (db_ok(nft) & isin(nft["db_status"], MINTED)))
    state = pd.Series(np.where(applicable, "pass", None), index=nft.index, dtype="object")
    step = pd.Series(None, index=nft.index, dtype="object")
    problem = pd.Series(None, index=nft.index, dtype="object")
    for name, fail, unknown, message in _step_masks(nft, settings):
        undecided = state == "pass"
        for outcome, mask in (("fail", undecided & fail), ("unknown", undecided & unknown & ~fail)):
            state[mask], step[mask] = outcome, name
            problem[mask] = message[mask] if isinstance(message, pd.Series) else message
    return pd.DataFrame({"applicable": applicable, "state": state, "step": step, "problem": problem})


def _repair(nft: pd.DataFrame, step: pd.Series) -> pd.Series:
    repin = ((step == "json") & flag(nft["metadata_read"], "missing")) | (
        (step == "image") & flag(nft["image_read"], "missing")
    )
    return pd.Series(np.where(repin, "IPFS_REPIN_EXACT", "MANUAL_REVIEW"), index=nft.index, dtype="object")


def check_partner_verification_failed(nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    outcome = partner_outcome(nft, settings)
    rows = nft.assign(step=outcome["step"], problem=outcome["problem"])
    verdict = Verdict.of(outcome["state"] == "fail", outcome["state"] == "unknown")
    reason = "step " + text(outcome["step"]) + " could not be read: " + text(outcome["problem"])
    details = ["step", "problem", "chain_uri", "metadata_cid", "json_level", "image_uri"]
    return emit_verdict(
        "PARTNER_VERIFICATION_FAILED",
        rows,
        verdict,
        details=details,
        reason=reason,
        repair=_repair(nft, outcome["step"]),
    )
