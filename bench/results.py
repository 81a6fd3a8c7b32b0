"""Write benchmark results as JSON under bench/results/, with what produced them."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from .proc import ROOT


def _git_head() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return None
    return done.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def environment() -> dict:
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": _git_head(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "command": "python -m bench " + " ".join(sys.argv[1:]),
    }


def write_result(folder: str | Path, name: str, payload: dict) -> Path:
    """``folder/name.json`` (overwritten: the latest run of that benchmark)."""
    path = (Path(folder) if Path(folder).is_absolute() else ROOT / folder) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"environment": environment(), **payload}, indent=2, default=str) + "\n")
    return path


def log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)
