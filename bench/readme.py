"""Render bench/README.md's results table from the JSON files under bench/results/."""

from __future__ import annotations

import json
from pathlib import Path

from .proc import ROOT

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def _load(folder: Path, name: str) -> dict | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _row(target: str, entry: dict, source: dict) -> str:
    met = {True: "met", False: "**missed**", None: "info"}.get(entry.get("met"), "?")
    env = source["environment"]
    produced = f"`{env['command']}` ({env['when'][:10]}, {env['git']})"
    return f"| {target} | {entry['value']} | {entry['bound']} | {met} | {produced} |"


def table(folder: Path) -> str:
    lines = ["| target | measured | bound | | produced by |", "| --- | --- | --- | --- | --- |"]
    for path in sorted(folder.glob("latency-*.json")):
        source = json.loads(path.read_text())
        lines += [_row(name, entry, source) for name, entry in source["targets"].items()]
    for name in ("scale", "deep", "hashing", "replicas"):
        source = _load(folder, name)
        if source:
            lines += [_row(target, entry, source) for target, entry in source["targets"].items()]
    return "\n".join(lines)


def render(results: str = "bench/results", readme: str = "bench/README.md") -> Path:
    """Replace the block between the results markers of the README with the current table."""
    folder = Path(results) if Path(results).is_absolute() else ROOT / results
    path = Path(readme) if Path(readme).is_absolute() else ROOT / readme
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{BEGIN}\n{table(folder)}\n{END}{tail}")
    return path
