"""The repair plan (pure): findings + the joined frames -> one plan entry per failing finding.

:func:`plan_finding` is the one function that decides what is done about a failing finding; both the
finding's own ``repair`` (:func:`resolve_repairs`, applied before findings are recorded, reported and
alerted) and the plan (:func:`build_plan`) come from it, so they always agree. For every finding with
status ``fail`` it gives one entry:

- its automatic repair (the catalogue's code, or the sharper one the check chose), planned from the
  joined frames' evidence by :mod:`.plan_nft` / :mod:`.plan_blocks`; a planner that cannot make it safe
  (no valid source, the truth would be overwritten, the truth it copies from fails a check of its own
  entity: :mod:`.plan_truth`) turns it into a manual review with the reason;
- ``MANUAL_REVIEW`` for the findings a person must decide (and MARK_GATEWAY_BAD: an operator's call);
- ``NONE`` (a warning) or ``RECHECK`` (a later run judges again): an entry that writes nothing.

Unknown findings never get an entry: nothing is repaired from unknown. Destructive repairs
(``catalogue.DESTRUCTIVE_REPAIRS``) are flagged and wait for an approval naming their ``action_id``.
The plan is refused as a whole (an empty plan, ``attrs["blocked"]`` saying why) when the joined frames
are structurally unsound: the same conditions as the blocking expectations of the GX suites; the
findings then say MANUAL_REVIEW with that reason.
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd

from ..checks.catalogue import CATALOGUE, DESTRUCTIVE_REPAIRS
from .actions import AS_MANUAL, AUTOMATIC, MANUAL, NO_ACTION, PLAN_COLUMNS, Action
from .plan_blocks import BLOCK_PLANNERS, BlockEvidence
from .plan_nft import NFT_PLANNERS, finding_details, manual
from .plan_truth import EntityFindings, suspect_truth

REVIEW_REASON = "review_reason"  # details key: why a finding the check would repair goes to manual review
NO_ACTION_REASONS = {"NONE": "a warning: nothing to write", "RECHECK": "judged again by the next run"}

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


def plan_finding(
    finding: dict, nft_rows: dict, block_evidence: BlockEvidence, settings: object, others: EntityFindings | None = None
) -> Action:
    """The plan entry for one failing finding: an automatic action, MANUAL_REVIEW with its reason, or NONE/RECHECK.

    Idempotent: planning a finding whose ``repair`` this function already set gives the same entry."""
    repair = finding["repair"]
    summary = CATALOGUE[finding["check_id"]].summary if finding["check_id"] in CATALOGUE else finding["check_id"]
    if repair in NO_ACTION:
        return dataclasses.replace(manual(finding, NO_ACTION_REASONS[repair]), repair=repair)
    if repair == MANUAL:
        return manual(finding, finding_details(finding).get(REVIEW_REASON) or summary)
    if repair in AS_MANUAL or repair not in AUTOMATIC:
        return manual(finding, f"{summary} (repair {repair})")
    if suspect := suspect_truth(finding, others or EntityFindings()):
        return manual(finding, suspect)
    if repair in NFT_PLANNERS:
        row = nft_rows.get((finding["entity_type"], str(finding["entity_id"])))
        action = NFT_PLANNERS[repair](finding, row, settings)
    else:
        action = BLOCK_PLANNERS[repair](finding, block_evidence, settings)
    return dataclasses.replace(action, destructive=action.repair in DESTRUCTIVE_REPAIRS)


def _decide(findings: pd.DataFrame, nft: pd.DataFrame, blocks: pd.DataFrame, settings: object) -> list[Action]:
    """One entry per failing finding (in their order), from :func:`plan_finding`."""
    failing = findings[findings["status"] == "fail"]
    if failing.empty:
        return []
    nft_rows, block_evidence = _nft_evidence(nft, failing), _block_evidence(blocks, failing)
    others = EntityFindings(findings)
    return [plan_finding(f, nft_rows, block_evidence, settings, others) for f in _records(failing)]


def _with_reason(details: object, reason: str) -> str:
    parsed = json.loads(details) if isinstance(details, str) else dict(details or {})
    parsed = parsed if isinstance(parsed, dict) else {"value": parsed}
    return json.dumps(parsed | {REVIEW_REASON: reason}, default=str, sort_keys=True)


def resolve_repairs(findings: pd.DataFrame, nft: pd.DataFrame, blocks: pd.DataFrame, settings: object) -> pd.DataFrame:
    """The findings with each failing finding's ``repair`` set to its plan entry's (:func:`plan_finding`); a
    finding the check would repair that goes to manual review says why in ``details.review_reason``."""
    if findings.empty or not (findings["status"] == "fail").any():
        return findings
    out = findings.copy()
    failing = out.index[out["status"] == "fail"]
    problems = frame_problems(nft, blocks)
    if problems:
        reason = "repair plan refused: " + "; ".join(problems)
        actions = [manual(f, reason) for f in _records(out.loc[failing])]
    else:
        actions = _decide(out, nft, blocks, settings)
    for index, action in zip(failing, actions, strict=True):
        if action.repair == MANUAL and out.at[index, "repair"] != MANUAL:
            out.at[index, "details"] = _with_reason(out.at[index, "details"], action.reason)
        out.at[index, "repair"] = action.repair
    out.attrs = dict(findings.attrs)
    return out


def build_plan(findings: pd.DataFrame, nft: pd.DataFrame, blocks: pd.DataFrame, settings: object) -> pd.DataFrame:
    """The plan frame (``actions.PLAN_COLUMNS``), ordered by phase then entity; see the module docstring."""
    problems = frame_problems(nft, blocks)
    if problems:
        plan = empty_plan()
        plan.attrs["blocked"] = problems
        return plan
    actions = _decide(findings, nft, blocks, settings)
    if not actions:
        return empty_plan()
    records = [a.record() for a in actions]
    keys = [r["idempotency_key"] for r in records]
    if len(set(keys)) != len(keys):  # findings are unique per check and entity: so are their entries
        raise ValueError("two failing findings share a check and an entity: the findings are not deduplicated")
    plan = pd.DataFrame(records, columns=PLAN_COLUMNS)
    plan = plan.sort_values(["phase", "check_id", "entity_id"], kind="stable").reset_index(drop=True)
    return plan.astype({"phase": "int64", "destructive": bool})


def plan_actions(plan: pd.DataFrame) -> list[Action]:
    """The plan's rows as Actions (in plan order)."""
    return [Action.from_record(record) for record in plan.to_dict("records")]
