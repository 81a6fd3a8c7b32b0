"""Progress of the CLI's in-process runs on a terminal (rich), stage by stage, from the run's own events.

:class:`RunProgress` is an event listener (:mod:`.execution`): Dagster calls it with each event of the run
as it is written, in the run's thread. It shows one progress bar per stage (snapshots, joins, checks,
suites, repairs, report), prints a line per snapshot as it lands (its layer, read status, records read,
requests sent and failed: :mod:`.layers.traffic`, counted between the step's start and its
materialization) and, at the end, a summary line naming each layer that could not be read, with its cause.

It is only made when stderr is a terminal and ``--quiet`` is not given (:func:`make_progress`); it writes
to stderr only, so ``--json`` keeps stdout pure JSON.
"""

from __future__ import annotations

import sys
from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .layers import traffic
from .snapshots import SNAPSHOT_NAMES

STAGES = ("snapshots", "joins", "checks", "suites", "repairs", "report")
STAGE_OF = {name: "snapshots" for name in SNAPSHOT_NAMES} | {
    "nft_consistency": "joins",
    "block_consistency": "joins",
    "nft_findings": "checks",
    "block_findings": "checks",
    "consistency_findings": "checks",
    "repair_plan": "repairs",
}  # any other asset of the graph: the report stage


def stage_totals() -> Counter:
    """How many assets (and, for suites, asset checks) each stage has in the reconciliation graph."""
    from .defs import ALL_ASSETS
    from .defs.gx_checks import GX_CHECKS

    totals: Counter = Counter()
    for definition in [*ALL_ASSETS, *GX_CHECKS]:
        for key in definition.keys:
            totals[STAGE_OF.get(key.path[-1], "report")] += 1
        totals["suites"] += len(definition.check_keys)
    return totals


def _asset_name(step_key: str | None) -> str:
    return (step_key or "").split("__")[-1]  # deep/source_images runs as step deep__source_images


class RunProgress:
    """The listener: stage bars and snapshot lines while runs go, :meth:`summary` after."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.totals = stage_totals()
        self.bars = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks = {stage: self.bars.add_task(stage, total=self.totals[stage]) for stage in STAGES}
        self.started: dict[str, traffic.Totals] = {}
        self.unreadable: dict[str, list[str]] = {}  # layer -> causes (snapshot: message)
        self.degraded: dict[str, int] = {}  # layer -> records it could not read
        self.layers: set[str] = set()
        self.failed_steps: list[str] = []

    def __enter__(self) -> RunProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def __call__(self, entry: object) -> None:
        event = getattr(entry, "dagster_event", None)
        if event is None:
            return
        kind = event.event_type_value
        if kind == "RUN_START":
            for stage in STAGES:
                self.bars.reset(self.tasks[stage], total=self.totals[stage])
        elif kind == "STEP_START":
            self.started[event.step_key] = traffic.totals()
        elif kind == "ASSET_MATERIALIZATION":
            self._materialized(event)
        elif kind == "ASSET_CHECK_EVALUATION":
            self.bars.advance(self.tasks["suites"])
        elif kind == "STEP_FAILURE":
            self.failed_steps.append(event.step_key)
            self.console.print(f"[red]step failed:[/red] {escape(event.step_key)}", highlight=False)

    def _materialized(self, event) -> None:
        name = event.asset_key.path[-1]
        stage = STAGE_OF.get(name, "report")
        self.bars.advance(self.tasks[stage])
        if stage == "snapshots":
            raw = event.event_specific_data.materialization.metadata
            metadata = {key: getattr(value, "value", value) for key, value in raw.items()}
            sent = traffic.totals() - self.started.get(event.step_key, traffic.totals())
            self.console.print(self.snapshot_line(name, metadata, sent), highlight=False)

    def snapshot_line(self, name: str, metadata: dict, sent: traffic.Totals) -> str:
        layer, status = str(metadata.get("layer", "?")), str(metadata.get("read_status", "?"))
        self.layers.add(layer)
        if status == "unavailable":
            self.unreadable.setdefault(layer, []).append(f"{name}: {metadata.get('message') or 'not read'}")
        elif status == "degraded":
            self.degraded[layer] = self.degraded.get(layer, 0) + int(metadata.get("unreadable") or 0)
        colour = {"ok": "green", "skipped": "dim", "degraded": "yellow"}.get(status, "red")
        return (
            f"snapshot {escape(name):28} layer {escape(layer):14} [{colour}]{status:11}[/{colour}] "
            f"{metadata.get('dagster/row_count', 0):>6} records {sent.requests:>6} requests {sent.errors:>4} errors"
        )

    def summary(self) -> str:
        """One line: every layer read, or each unreadable (and partly read) layer with its cause."""
        if not self.unreadable and not self.degraded:
            return f"layers: all {len(self.layers)} read" + (
                f"; failed steps: {', '.join(self.failed_steps)}" if self.failed_steps else ""
            )
        parts = [f"{layer} ({'; '.join(causes)})" for layer, causes in sorted(self.unreadable.items())]
        partly = [f"{layer} ({count} records unreadable)" for layer, count in sorted(self.degraded.items())]
        text = f"layers: unreadable: {', '.join(parts) or 'none'}"
        return text + (f"; partly read: {', '.join(partly)}" if partly else "")


def make_progress(quiet: bool, stream=None) -> RunProgress | None:
    """A progress display on stderr, or None when stderr is not a terminal or ``quiet``."""
    stream = stream or sys.stderr
    if quiet or not stream.isatty():
        return None
    return RunProgress(Console(file=stream))


def finish(progress: RunProgress | None) -> None:
    """Print the summary line (after the bars stopped)."""
    if progress is not None:
        progress.console.print(progress.summary(), markup=False, highlight=False, soft_wrap=True)
