"""Measurement processes: run one measurement in a fresh Python process, get its JSON result back.

Each measurement is a function ``f(**kwargs) -> dict`` in a bench module. :func:`run_child` starts
``python -m bench.proc MODULE FUNCTION JSON`` and returns the function's result plus ``peak_rss_mb``
(the child's ``ru_maxrss``: everything it ever held, imports included) and ``child_wall_s``. A fresh
process per measurement keeps peaks independent and caches cold. :func:`reset_peak` / :func:`peak_rss_mb`
measure one stage's peak inside a child (Linux: ``/proc/self/clear_refs`` resets VmHWM).
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT_MARK = "BENCH-RESULT "


def peak_rss_mb() -> float:
    """The process's peak resident set since start (or since :func:`reset_peak`), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def reset_peak() -> None:
    """Start a new peak (VmHWM := current RSS); a no-op where /proc does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


class ChildFailed(RuntimeError):
    pass


def run_child(module: str, function: str, timeout_s: float = 900, **kwargs: object) -> dict:
    """Run ``bench.MODULE.FUNCTION(**kwargs)`` in a new process; its result dict plus peak memory."""
    command = [sys.executable, "-m", "bench.proc", module, function, json.dumps(kwargs)]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        raise ChildFailed(f"{module}.{function} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result = json.loads(lines[-1][len(RESULT_MARK) :])
    result["child_wall_s"] = round(time.perf_counter() - started, 2)
    result["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]  # other work on the machine
    return result


def _main(argv: list[str]) -> int:
    module, function, kwargs = argv[0], argv[1], json.loads(argv[2])
    target = getattr(importlib.import_module(f"bench.{module}"), function)
    result = target(**kwargs)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.setdefault("peak_rss_mb", round(usage.ru_maxrss / 1024, 1))
    result.setdefault("cpu_s", round(usage.ru_utime + usage.ru_stime, 2))
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
