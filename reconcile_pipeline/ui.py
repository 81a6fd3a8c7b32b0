"""`reconcile ui`: the Dagster UI and daemon (`dagster dev`) for these definitions, on 127.0.0.1.

Instance: ``--instance local`` (default) keeps Dagster's runs, schedules and event logs in SQLite
under ``$DAGSTER_HOME`` when set, else ``.dagster_home`` in the working folder (never the repository's
folder when run from elsewhere); a new local instance gets a ``dagster.yaml`` with telemetry off, as the
repository's has, so Dagster's telemetry banner does not appear (the command says so). ``--instance
postgres`` uses the repository's ``dagster.yaml`` (PostgreSQL, credentials from DAGSTER_PG_*). `dagster
dev` runs in its own process group, so SIGINT/SIGTERM stop it and its children together; it is started
through :mod:`.dagster_dev`, which drops its "superseded by dg dev" warning.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from .execution import REPO_ROOT, default_home

TELEMETRY_OFF = (
    "# written by `reconcile ui` for a new local instance (see the repository's dagster.yaml)\n"
    "telemetry:\n  enabled: false\n"
)


def dagster_env(config: str | None, instance: str) -> dict[str, str]:
    env = os.environ.copy()
    if config:
        env["RECONCILE_CONFIG"] = str(Path(config).resolve())
    if instance == "postgres":
        env["DAGSTER_HOME"] = str(REPO_ROOT)
    else:
        home = Path(env.get("DAGSTER_HOME") or default_home()).resolve()  # where the CLI's runs are recorded too
        home.mkdir(parents=True, exist_ok=True)
        env["DAGSTER_HOME"] = str(home)
    return env


def quiet_telemetry(home: Path) -> Path | None:
    """A new instance folder gets ``dagster.yaml`` with telemetry off (as the repository's); the file, if written."""
    config = home / "dagster.yaml"
    if config.exists():
        return None
    config.write_text(TELEMETRY_OFF)
    return config


def _default_signals() -> None:
    """In the child: a launcher started in the background ignores SIGINT, and exec keeps SIG_IGN."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def run_ui(config: str | None, *, host: str = "127.0.0.1", port: int = 3000, instance: str = "local") -> int:
    command = [
        sys.executable,
        "-m",
        "reconcile_pipeline.dagster_dev",
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
    env = dagster_env(config, instance)
    home = Path(env["DAGSTER_HOME"])
    written = quiet_telemetry(home) if instance == "local" else None
    kind = "SQLite" if instance == "local" else "PostgreSQL"
    print(f"reconcile ui: Dagster instance {home} ({kind}); UI on http://{host}:{port}", file=sys.stderr, flush=True)
    if written is not None:
        print(f"reconcile ui: wrote {written}: telemetry off (remove the file to send Dagster usage statistics)",
              file=sys.stderr, flush=True)  # fmt: skip
    process = subprocess.Popen(command, env=env, start_new_session=True, preexec_fn=_default_signals)

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
