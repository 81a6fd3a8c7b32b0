"""The four cadences of DESIGN §7 as scopes: what one reconciliation run reads and judges. No Dagster here.

    cadence    trigger                                scope
    immediate  sensor: an operation reaches a         those operations (by id) / those blocks (by number);
               confirmed state, vdc:latest moves      content already verified by CID: availability only
    frequent   every 5 minutes                        operations updated and blocks mined in the last
                                                      ``frequent_window_s``; verified content: availability only
    regular    hourly                                 everything; content already verified by CID is taken from
                                                      the content archive; every gateway's raw root block verified
    deep       daily                                  everything re-downloaded from every gateway and re-hashed,
                                                      source images and backups, the whole block chain; one run
                                                      per shard (:mod:`.shards`) when the world is large

A :class:`Scope` travels in a run's tags (``reconcile/scope``, JSON; ``reconcile/scope_summary``, text) and
in the snapshot assets' metadata. A partial scope must never create a false finding: a scoped database read
skips the chain listing by update authority (a chain mint whose row is simply outside the read is not an
orphan), and a scoped block read adds the block before the lowest judged one as *context* for the chain link;
findings on context blocks are dropped by :func:`in_scope`. Source images (a handful of files, backups
included) and the Pinata pin list are read whole by every cadence. A run judges only what it read completely:
one that reads no block (an operation event) judges nothing of the block store, and ``vdc:latest``,
``vdc:pending:count`` and the pending queue (:data:`BLOCK_POPULATION_CHECKS`) are judged only by a read of every
block (:attr:`Scope.judges_block_population`; :mod:`.checks.block_reach`, :mod:`.checks.scoped`).

A shard of the deep scan (``shard_count`` > 1, blocks ``"shard"``) reads the shard's operations and lists
the chain for the shard's mint first bytes (so its orphans are found), and judges the shard's slice of the
block chain with the block before it as context. The union of the shards is the deep scan; a shard is never
``complete`` (its silence resolves only the alerts of the entities it judged).

Entities of the whole population (the levels' source images, ``vdc:latest``, ``vdc:pending:count``, the
pending queue: :data:`POPULATION_CHECKS`) are read alike by every shard but judged by one, the *home shard*:
the last, which also reads the blocks persisted above ``vdc:latest``, so it judges the pointer as an unsharded
read does. :func:`home_entities_only` drops the other shards' findings on them, and their alert coverage
leaves them out. A ``vdc:tx`` index entry no block holds (a dangling one) is named by no shard's blocks: the
home shard sweeps the whole index for them (:mod:`.snapshots.tx_sweep`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pandas as pd

from .checks.catalogue import CATALOGUE
from .shards import Shard

CADENCES = ("immediate", "frequent", "regular", "deep")
CONFIRMED_STATES = ("BLOCKCHAIN_CONFIRMED", "VERIFIED", "COMPLETED")  # the DB says the NFT exists
OP_MODES = ("all", "none", "ids", "since")
BLOCK_MODES = ("all", "none", "numbers", "window", "latest", "shard")
TAG_CADENCE, TAG_SCOPE, TAG_SUMMARY, TAG_IPFS_MODE = (
    "reconcile/cadence",
    "reconcile/scope",
    "reconcile/scope_summary",
    "reconcile/ipfs_mode",
)
TAG_SHARD = "reconcile/shard"
TAG_PARTITION = "dagster/partition"  # Dagster's tag on a partitioned run: the deep scan's shard key
BLOCK_SCOPE_ATTR = "block_scope"  # attrs key of the KV snapshot frame: {"judged": [...], "context": [...]}
POPULATION_ENTITY_TYPES = frozenset({"level", "kv_key", "queue"})  # one of each per world, in no shard
SHARD_JUDGED_LEVEL_CHECKS = frozenset({"SOURCE_MISSING_ACTIVE_NFT"})  # a level against the shard's NFTs
POPULATION_CHECKS = (
    frozenset(check for check, spec in CATALOGUE.items() if spec.entity_type in POPULATION_ENTITY_TYPES)
    - SHARD_JUDGED_LEVEL_CHECKS
)  # judged on whole reads alone: every shard would find the same
BLOCK_POPULATION_CHECKS = frozenset(
    check for check in POPULATION_CHECKS if CATALOGUE[check].entity_type in ("kv_key", "queue")
)  # vdc:latest, vdc:pending:count, the pending queue: judged only by a read of every block (judges_block_population)


@dataclass(frozen=True)
class Scope:
    """What one run reads. ``ops``: all | none | ids | since; ``blocks``: all | none | numbers | window | latest |
    shard. ``shard_count`` > 1: one shard of the deep scan (:mod:`.shards`), operations and blocks alike."""

    cadence: str
    ipfs_mode: str = "deep"  # deep: every gateway, every byte; regular: verified content by archive + root blocks
    ops: str = "all"
    op_ids: tuple[str, ...] = ()
    op_statuses: tuple[str, ...] = ()  # keep only operations in these states (empty: any)
    since: datetime | None = None  # ops "since": updated at or after; blocks "window": mined at or after
    blocks: str = "all"
    block_numbers: tuple[int, ...] = field(default=())
    shard_index: int = 0
    shard_count: int = 1  # 1: not sharded

    def __post_init__(self) -> None:
        if self.ops not in OP_MODES or self.blocks not in BLOCK_MODES:
            raise ValueError(f"bad scope: ops {self.ops!r} (one of {OP_MODES}), blocks {self.blocks!r}")
        Shard(self.shard_index, self.shard_count)  # raises on a bad shard
        if (self.blocks == "shard") != (self.shard_count > 1):
            raise ValueError("bad scope: blocks 'shard' goes with a shard count above 1, and only with it")
        if self.ipfs_mode not in ("deep", "regular"):
            raise ValueError(f"bad scope: ipfs_mode {self.ipfs_mode!r} (deep or regular)")

    @property
    def shard(self) -> Shard | None:
        return Shard(self.shard_index, self.shard_count) if self.shard_count > 1 else None

    @property
    def complete_nfts(self) -> bool:
        """Every operation and every mint of ours (of its shard, when sharded): the chain is listed by
        update authority (and, sharded, by the mint's first byte)."""
        return self.ops == "all" and not self.op_statuses

    @property
    def complete(self) -> bool:
        """Every entity of every layer: the run can say that something *stopped* failing anywhere.
        A shard is never complete: its silence says nothing about the other shards' entities."""
        return self.complete_nfts and self.blocks == "all" and self.shard is None

    @property
    def judges_block_population(self) -> bool:
        """Whether the run reads the whole block store, so that it judges ``vdc:latest``, ``vdc:pending:count``, the
        pending queue and the dangling ``vdc:tx`` entries (:data:`BLOCK_POPULATION_CHECKS`): every block of an
        unsharded run, or the home shard of a sharded scan (it reads up past ``vdc:latest`` and sweeps the whole
        index). A run over some blocks (by number, a window, the head) or none judges none of them: what it did
        not read is out of its scope, neither missing nor unknown."""
        if self.shard is not None:
            return self.shard.last
        return self.blocks == "all"

    @property
    def judges_population(self) -> bool:
        """Whether the run judges the whole population's entities (:data:`POPULATION_CHECKS`): an unsharded
        run, or the home shard of a sharded scan: the last one, which reads up past ``vdc:latest``."""
        return self.shard is None or self.shard.last

    def summary(self) -> str:
        ops = {
            "all": "all operations" + (f" in {', '.join(self.op_statuses)}" if self.op_statuses else ""),
            "none": "no operations",
            "ids": f"operations {', '.join(self.op_ids[:5])}{' …' if len(self.op_ids) > 5 else ''}",
            "since": f"operations updated since {_iso(self.since)}",
        }[self.ops]
        if self.ops != "all" and self.op_statuses:
            ops += f" in {', '.join(self.op_statuses)}"
        blocks = {
            "all": "all blocks",
            "none": "no blocks",
            "numbers": "blocks "
            + ", ".join(map(str, self.block_numbers[:10]))
            + (" …" if len(self.block_numbers) > 10 else ""),
            "window": f"blocks mined since {_iso(self.since)}",
            "latest": "the block vdc:latest names",
            "shard": "the shard's blocks",
        }[self.blocks]
        if self.shard is not None:
            ops = f"shard {self.shard_index} of {self.shard_count}: {ops}"
        content = (
            "content re-downloaded from every gateway"
            if self.ipfs_mode == "deep"
            else "verified content: availability only"
        )
        return f"{self.cadence}: {ops}; {blocks}; {content}" + self._shard_note()

    def _shard_note(self) -> str:
        if self.shard is None:
            return ""
        where = "here" if self.judges_population else f"by shard {self.shard_count - 1}"
        population = f"source images, vdc:latest and the pending queue judged {where}"
        return f"; {population}; dangling vdc:tx index entries judged {where}"

    def to_json(self) -> str:
        data = asdict(self)
        data["since"] = _iso(self.since)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Scope:
        data = json.loads(text)
        data["op_ids"] = tuple(data.get("op_ids") or ())
        data["op_statuses"] = tuple(data.get("op_statuses") or ())
        data["block_numbers"] = tuple(int(n) for n in data.get("block_numbers") or ())
        data["since"] = _parse_time(data.get("since"))
        return cls(**data)

    def tags(self) -> dict[str, str]:
        return {
            TAG_CADENCE: self.cadence,
            TAG_SCOPE: self.to_json(),
            TAG_SUMMARY: self.summary()[:1000],
            TAG_IPFS_MODE: self.ipfs_mode,
        } | ({TAG_SHARD: self.shard.key} if self.shard else {})

    def metadata(self) -> dict:
        """Plain values for asset metadata."""
        shard = self.shard
        extra = {"shard": shard.key} if shard else {}
        return {"cadence": self.cadence, "scope": self.summary(), "scope_complete": self.complete, **extra}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- the cadences' scopes ------------------------------------------------------------------------
def manual_scope(cadence: str = "manual") -> Scope:
    """Everything, deep reads: what an unscheduled `reconcile` run does."""
    return Scope(cadence, "deep")


def frequent_scope(window_s: int, now: datetime) -> Scope:
    since = now - timedelta(seconds=window_s)
    return Scope("frequent", "regular", ops="since", since=since, blocks="window")


def regular_scope() -> Scope:
    return Scope("regular", "regular")


def deep_scope(shard: Shard | None = None) -> Scope:
    """The deep cadence: everything, or (``shard``) one shard of everything."""
    if shard is None or shard.count == 1:
        return Scope("deep", "deep")
    return Scope("deep", "deep", blocks="shard", shard_index=shard.index, shard_count=shard.count)


def operation_event_scope(op_ids: list[str]) -> Scope:
    return Scope("immediate", "regular", ops="ids", op_ids=tuple(op_ids), blocks="none")


def block_event_scope(numbers: list[int]) -> Scope:
    return Scope("immediate", "regular", ops="none", blocks="numbers", block_numbers=tuple(sorted(set(numbers))))


def scope_for(cadence: str, settings, now: datetime | None = None) -> Scope:
    """The scope of a scheduled (or CLI) run of ``cadence``; immediate scopes come from events instead."""
    now = now or datetime.now(UTC)
    if cadence == "frequent":
        return frequent_scope(settings.reconciliation.frequent_window_s, now)
    if cadence == "regular":
        return regular_scope()
    if cadence == "deep":
        return deep_scope()
    if cadence == "manual":
        return manual_scope()
    raise ValueError(f"no fixed scope for cadence {cadence!r}: immediate runs are scoped by their events")


def scope_from_tags(tags: dict[str, str]) -> Scope:
    """The scope a run was started with; a run of a deep-scan partition (``dagster/partition`` = ``64-007``,
    e.g. a backfill launched from the UI) is that shard; a run without either is manual: everything."""
    if TAG_SCOPE in tags:
        return Scope.from_json(tags[TAG_SCOPE])
    if TAG_PARTITION in tags:
        from .shards import Shard

        try:
            return deep_scope(Shard.parse(tags[TAG_PARTITION]))
        except ValueError:
            pass
    scope = manual_scope(tags.get(TAG_CADENCE, "manual"))
    mode = tags.get(TAG_IPFS_MODE)
    return replace(scope, ipfs_mode=mode) if mode in ("deep", "regular") else scope


# -- schedules -----------------------------------------------------------------------------------
def interval_cron(seconds: int, minute: int = 0, hour: int = 0) -> str:
    """A cron string firing every ``seconds``: minutes dividing an hour, hours dividing a day, or whole days."""
    if seconds % 60:
        raise ValueError(f"schedule interval {seconds}s is not a whole number of minutes")
    minutes = seconds // 60
    if minutes < 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if minutes % 60 == 0 and minutes < 1440 and 24 % (minutes // 60) == 0:
        hours = minutes // 60
        return f"{minute} * * * *" if hours == 1 else f"{minute} */{hours} * * *"
    if minutes % 1440 == 0:
        days = minutes // 1440
        return f"{minute} {hour} * * *" if days == 1 else f"{minute} {hour} */{days} * *"
    raise ValueError(f"schedule interval {seconds}s must divide an hour, divide a day, or be whole days")


def cadence_crons(settings) -> dict[str, str]:
    """Cron strings (UTC) of the three scheduled cadences, from ``settings.reconciliation``."""
    cfg = settings.reconciliation
    hour, minute = (int(part) for part in cfg.deep_at_utc.split(":"))
    return {
        "frequent": interval_cron(cfg.frequent_interval_s),
        "regular": interval_cron(cfg.regular_interval_s),
        "deep": interval_cron(cfg.deep_interval_s, minute=minute, hour=hour),
    }


# -- judging only what is in scope ---------------------------------------------------------------
def context_blocks(frames: dict[str, pd.DataFrame]) -> set[str]:
    """Block numbers (as entity ids) read only as context for the chain link of a scoped block read."""
    kv = frames.get("blockstore_kv")
    scope = kv.attrs.get(BLOCK_SCOPE_ATTR) if kv is not None else None
    return {str(number) for number in (scope or {}).get("context", [])}


def in_scope(findings: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Drop findings on context blocks (their own predecessor was never read: a gap that is not there)."""
    context = context_blocks(frames)
    if not context or findings.empty:
        return findings
    outside = (findings["entity_type"] == "block") & findings["entity_id"].astype(str).isin(context)
    return findings[~outside].reset_index(drop=True)


def home_entities_only(findings: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    """Drop findings on the whole population's entities (:data:`POPULATION_CHECKS`: fail and unknown alike)
    unless ``scope`` judges them (unsharded, or the home shard): one shard of the scan reports them, once."""
    if scope.judges_population or findings.empty:
        return findings
    return findings[~findings["check_id"].isin(POPULATION_CHECKS)].reset_index(drop=True)
