"""`reconcile ui`: the Dagster UI and daemon (`dagster dev`) for these definitions, on 127.0.0.1.

Instance: ``--instance local`` (default) keeps Dagster's runs, schedules and event logs in SQLite
under ``.dagster_home`` (or ``$DAGSTER_HOME`` when set); ``--instance postgres`` uses the
repository's ``dagster.yaml`` (PostgreSQL, credentials from DAGSTER_PG_*). `dagster dev` runs in
its own process group, so SIGINT/SIGTERM stop it and its children together.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from .execution import DEFAULT_HOME, REPO_ROOT


def dagster_env(config: str | None, instance: str) -> dict[str, str]:
    env = os.environ.copy()
    if config:
        env["RECONCILE_CONFIG"] = str(Path(config).resolve())
    if instance == "postgres":
        env["DAGSTER_HOME"] = str(REPO_ROOT)
    else:
        home = Path(env.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()  # where the CLI's runs are recorded too
        home.mkdir(parents=True, exist_ok=True)
        env["DAGSTER_HOME"] = str(home)
    return env


def _default_signals() -> None:
    """In the child: a launcher started in the background ignores SIGINT, and exec keeps SIG_IGN."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def run_ui(config: str | None, *, host: str = "127.0.0.1", port: int = 3000, instance: str = "local") -> int:
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        "reconcile_pipeline.defs",
        "-a",
        "defs",
        "-h",
        host,
        "-p",
        str(port),
    ]
    process = subprocess.Popen(
        command, env=dagster_env(config, instance), start_new_session=True, preexec_fn=_default_signals
    )

    def stop(signum: int, _frame: object) -> None:
        os.killpg(process.pid, signal.SIGINT)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    try:
        return process.wait()
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGINT the whole group, then SIGTERM, then SIGKILL what is left."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace_s)
            os.killpg(process.pid, 0)  # children may outlive the leader
        except (subprocess.TimeoutExpired, ProcessLookupError):
            continue
