"""The repair plan (pure): findings + the joined frames -> one action per failing finding.

:func:`build_plan` gives, for every finding with status ``fail``:

- its automatic repair (the catalogue's code, or the sharper one the check chose), planned from the
  joined frames' evidence by :mod:`.plan_nft` / :mod:`.plan_blocks`; a planner that cannot make it safe
  (no valid source, the truth would be overwritten, ...) turns it into a manual review with the reason;
- ``MANUAL_REVIEW`` for the findings a person must decide (and MARK_GATEWAY_BAD: an operator's call);
- nothing for warnings (``NONE``) and re-checks (``RECHECK``).

Unknown findings never get an action: nothing is repaired from unknown. Destructive repairs
(``catalogue.DESTRUCTIVE_REPAIRS``) are flagged and wait for an approval naming their ``action_id``.
The plan is refused as a whole (an empty plan, ``attrs["blocked"]`` saying why) when the joined frames
are structurally unsound: the same conditions as the blocking expectations of the GX suites.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from ..checks.catalogue import CATALOGUE, DESTRUCTIVE_REPAIRS
from .actions import AS_MANUAL, AUTOMATIC, NO_ACTION, PLAN_COLUMNS, Action
from .plan_blocks import BLOCK_PLANNERS, BlockEvidence
from .plan_nft import NFT_PLANNERS, manual

NFT_ENTITIES = ("nft", "operation")
KNOWN_STATES = {
    "nft_consistency": {
        "entity_type": set(NFT_ENTITIES),
        "chain_read": {"ok", "missing", "invalid", "unavailable", "none"},
        "metadata_read": {"ok", "missing", "invalid", "unavailable", "refused", "none"},
    },
    "block_consistency": {
        "kv_status": {"present", "missing", "unavailable"},
        "r2_status": {"present", "missing", "unavailable"},
        "ipfs_status": {"present", "missing", "unavailable", "unlocated", "unverified"},
    },
}


def empty_plan() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="object") for column in PLAN_COLUMNS})


def frame_problems(nft: pd.DataFrame, blocks: pd.DataFrame) -> list[str]:
    """Why the joined frames cannot be planned from (the blocking expectations' conditions), empty if sound."""
    problems = []
    if len(nft) and nft["entity_id"].isna().any():
        problems.append("nft_consistency: an entity_id is null")
    if len(nft) and nft.duplicated(["entity_type", "entity_id"]).any():
        problems.append("nft_consistency: (entity_type, entity_id) is not unique")
    if len(blocks) and (blocks["block_number"].duplicated().any() or (blocks["block_number"] < 0).any()):
        problems.append("block_consistency: block_number is not unique and non-negative")
    for name, frame in (("nft_consistency", nft), ("block_consistency", blocks)):
        for column, allowed in KNOWN_STATES[name].items():
            if column in frame and not frame[column].dropna().isin(allowed).all():
                problems.append(f"{name}: {column} holds an unknown state")
    return problems


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: (None if _is_na(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def _is_na(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _nft_evidence(nft: pd.DataFrame, failing: pd.DataFrame) -> dict[tuple[str, str], dict]:
    wanted = failing[failing["entity_type"].isin(NFT_ENTITIES)]
    keys = set(zip(wanted["entity_type"], wanted["entity_id"].astype(str), strict=True))
    rows = nft[[key in keys for key in zip(nft["entity_type"], nft["entity_id"].astype(str), strict=True)]]
    return {(r["entity_type"], str(r["entity_id"])): r for r in _records(rows)}


def _block_evidence(blocks: pd.DataFrame, failing: pd.DataFrame) -> BlockEvidence:
    if (
        blocks.empty
        or not failing["check_id"].isin([c for c, s in CATALOGUE.items() if s.repair in BLOCK_PLANNERS]).any()
    ):
        return BlockEvidence({})
    return BlockEvidence({int(r["block_number"]): r for r in _records(blocks)})


def plan_finding(finding: dict, nft_rows: dict, block_evidence: BlockEvidence, settings: object) -> Action | None:
    """The action for one failing finding (None: nothing to do)."""
    repair = finding["repair"]
    if repair in NO_ACTION:
        return None
    summary = CATALOGUE[finding["check_id"]].summary if finding["check_id"] in CATALOGUE else finding["check_id"]
    if repair in AS_MANUAL or repair not in AUTOMATIC:
        return manual(finding, f"{summary} (repair {repair})" if repair not in AS_MANUAL else summary)
    if repair in NFT_PLANNERS:
        row = nft_rows.get((finding["entity_type"], str(finding["entity_id"])))
        action = NFT_PLANNERS[repair](finding, row, settings)
    else:
        action = BLOCK_PLANNERS[repair](finding, block_evidence, settings)
    return dataclasses.replace(action, destructive=action.repair in DESTRUCTIVE_REPAIRS)


def build_plan(findings: pd.DataFrame, nft: pd.DataFrame, blocks: pd.DataFrame, settings: object) -> pd.DataFrame:
    """The plan frame (``actions.PLAN_COLUMNS``), ordered by phase then entity; see the module docstring."""
    problems = frame_problems(nft, blocks)
    if problems:
        plan = empty_plan()
        plan.attrs["blocked"] = problems
        return plan
    failing = findings[findings["status"] == "fail"]
    if failing.empty:
        return empty_plan()
    nft_rows, block_evidence = _nft_evidence(nft, failing), _block_evidence(blocks, failing)
    actions = [plan_finding(f, nft_rows, block_evidence, settings) for f in _records(failing)]
    records = {a.key: a.record() for a in actions if a is not None}  # one action per key
    if not records:
        return empty_plan()
    plan = pd.DataFrame(list(records.values()), columns=PLAN_COLUMNS)
    plan = plan.sort_values(["phase", "check_id", "entity_id"], kind="stable").reset_index(drop=True)
    return plan.astype({"phase": "int64", "destructive": bool})


def plan_actions(plan: pd.DataFrame) -> list[Action]:
    """The plan's rows as Actions (in plan order)."""
    return [Action.from_record(record) for record in plan.to_dict("records")]
