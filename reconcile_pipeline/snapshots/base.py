"""What every snapshot returns: a frame and how the read went."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, is_dataclass

import pandas as pd

from ..layers.errors import LayerError


@dataclass
class LayerStatus:
    """How a layer's read went: ok (everything read), degraded (some records unreadable), unavailable, or
    skipped (outside the run's scope: nothing read, nothing judged)."""

    layer: str
    status: str = "ok"
    rows: int = 0
    unreadable: int = 0
    message: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def as_metadata(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, {})}


@dataclass
class Snapshot:
    """A layer's frame; its read status also rides in ``frame.attrs["read_status"]`` (kept by Parquet),
    so that a layer that could not be read is never mistaken downstream for one that holds nothing."""

    frame: pd.DataFrame
    status: LayerStatus

    def __post_init__(self) -> None:
        self.frame.attrs["read_status"] = self.status.as_metadata()


def read_status(frame: pd.DataFrame) -> dict:
    """The read status a snapshot frame carries: {'layer', 'status': ok|degraded|unavailable, 'message'?}."""
    return frame.attrs.get("read_status") or {"status": "ok"}


def layer_readable(frame: pd.DataFrame) -> bool:
    """False when the whole layer could not be read (its rows, if any, prove nothing is missing)."""
    return read_status(frame).get("status") != "unavailable"


def unavailable(layer: str, error: LayerError, columns: list[str]) -> Snapshot:
    """The whole layer could not be read: an empty frame that says so (never 'missing')."""
    return Snapshot(pd.DataFrame(columns=columns), LayerStatus(layer, "unavailable", message=str(error)))


def skipped(layer: str, columns: list[str], why: str) -> Snapshot:
    """The layer is outside this run's scope: an empty frame that says so (readable, judged on nothing)."""
    return Snapshot(pd.DataFrame(columns=columns), LayerStatus(layer, "skipped", message=why))


def records_frame(records: list, columns: list[str]) -> pd.DataFrame:
    rows = [asdict(r) if is_dataclass(r) else dict(r) for r in records]
    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


def status_from(layer: str, frame: pd.DataFrame, status_column: str = "status") -> LayerStatus:
    counts = Counter(frame[status_column]) if len(frame) else Counter()
    unreadable = counts.get("unavailable", 0)
    state = "ok" if unreadable == 0 else ("unavailable" if unreadable == len(frame) else "degraded")
    return LayerStatus(layer, state, rows=len(frame), unreadable=unreadable, counts=dict(counts))
