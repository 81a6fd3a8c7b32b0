"""Where the CLI's in-process runs are recorded, and who watches them (no settings, no layers).

By default the CLI's runs (`reconcile run`, `reconcile verify`, the record of `reconcile repair apply`) go to
the Dagster instance ``DAGSTER_HOME`` names, or, when it is unset, to the default home `reconcile ui` uses
(``.dagster_home`` in the working folder, never the repository's when run from elsewhere): the UI then shows
their runs, materializations and asset check results. ``--ephemeral`` keeps the old behaviour (an in-memory
instance per run, nothing kept).

:func:`using` sets, for the code inside it, the instance :func:`..runner.materialize_in_process` runs on and
a listener that sees each event of the run as it is written (the progress display). Outside it (tests,
benchmarks, the demo) every run gets an ephemeral instance and no listener.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_home() -> Path:
    """``.dagster_home`` in the working folder: where the CLI and `reconcile ui` keep runs without DAGSTER_HOME."""
    return Path.cwd() / ".dagster_home"


@dataclass(frozen=True)
class Execution:
    instance: DagsterInstance | None = None  # None: an ephemeral instance per run
    listener: Callable[[object], None] | None = None  # called with each EventLogEntry of the run, in order


_CURRENT: ContextVar[Execution | None] = ContextVar("reconcile_execution", default=None)


def current() -> Execution:
    return _CURRENT.get() or Execution()


def dagster_home() -> Path:
    """The folder ``DAGSTER_HOME`` names, else the default home of `reconcile ui`; created if missing."""
    home = Path(os.environ.get("DAGSTER_HOME") or default_home()).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def persistent_instance() -> DagsterInstance:
    """The instance of :func:`dagster_home` (its ``dagster.yaml`` when there is one, else SQLite in it).

    One that cannot be opened (a bad ``dagster.yaml``, its database down) is a ValueError: the CLI says so
    and exits 2, pointing at ``--ephemeral``."""
    home = dagster_home()
    try:
        return DagsterInstance.from_config(str(home))
    except Exception as exc:  # noqa: BLE001 - dagster raises many kinds here; all mean "cannot record runs"
        raise ValueError(f"cannot open the Dagster instance in {home} ({type(exc).__name__}: {exc}); "
                         "fix DAGSTER_HOME or pass --ephemeral") from None  # fmt: skip


@contextlib.contextmanager
def using(*, ephemeral: bool, listener: Callable[[object], None] | None = None) -> Iterator[Execution]:
    """Runs inside record to the persistent instance (unless ``ephemeral``) and report to ``listener``."""
    instance = None if ephemeral else persistent_instance()
    token = _CURRENT.set(Execution(instance, listener))
    try:
        yield current()
    finally:
        _CURRENT.reset(token)
        if instance is not None:
            instance.dispose()
