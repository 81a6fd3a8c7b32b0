"""Join, checks and expectation suites over synthetic NFT frames, in one fresh process (no servers).

:func:`measure` reads the frames (Parquet, as the IO manager does), then times each stage as the
consistency assets run it — ``build_nft_consistency`` (the ``nft_consistency`` asset), the NFT checks and
metrics (``nft_findings``), the GX suite (``nft_consistency_expectations``) — and the peak resident
memory of each stage (VmHWM reset before it) and of the whole process.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

from .proc import peak_rss_mb, reset_peak, rss_mb


def _stage(name: str, timings: dict, peaks: dict, function, *args, **kwargs):
    gc.collect()
    reset_peak()
    started = time.perf_counter()
    result = function(*args, **kwargs)
    timings[name] = round(time.perf_counter() - started, 2)
    peaks[name] = peak_rss_mb()
    return result


def _digest(findings) -> str:
    """A fingerprint of the findings (check, status, entity), to compare runs (the same frames, other code)."""
    return digest_keys(finding_keys(findings))


def finding_keys(findings) -> list[tuple[str, str, str]]:
    """(check, status, entity) of each finding: what a run found, whatever the run (one process or shards)."""
    return list(zip(findings["check_id"], findings["status"], findings["entity_id"].astype(str), strict=True))


def digest_keys(keys) -> str:
    """A fingerprint of a set of finding keys (sorted, duplicates removed)."""
    import hashlib

    distinct = sorted({tuple(key) for key in keys})
    return hashlib.sha256(repr(distinct).encode()).hexdigest()[:16]


def _by_check(findings) -> dict[str, int]:
    if findings.empty:
        return {}
    return {
        f"{check}:{status}": int(n) for (check, status), n in findings.groupby(["check_id", "status"]).size().items()
    }


def measure(cache_dir: str, nfts: int, chunk: int, fault_every: int, gx: bool = True) -> dict:
    from reconcile_pipeline.checks.gx_runner import validate_frame
    from reconcile_pipeline.checks.nft_checks import nft_findings
    from reconcile_pipeline.checks.nft_checks_metrics import nft_metrics
    from reconcile_pipeline.checks.nft_join import build_nft_consistency
    from reconcile_pipeline.settings import load_settings

    from .frames import load_frames, template_dir

    cache = Path(cache_dir)
    settings = load_settings(template_dir(cache) / "settings.toml")
    timings: dict[str, float] = {}
    peaks: dict[str, float] = {}
    baseline_rss = rss_mb()
    frames = _stage("read_parquet", timings, peaks, load_frames, cache, nfts, chunk, fault_every)
    inputs_rss = rss_mb()
    joined = _stage("join", timings, peaks, build_nft_consistency, frames, settings)
    findings = _stage("checks", timings, peaks, nft_findings, joined, frames, settings)
    _stage("metrics", timings, peaks, nft_metrics, joined, findings, frames)
    outcomes = []
    if gx:
        _stage("gx_import", timings, peaks, __import__, "great_expectations")
        parameters = {"update_authorities": [settings.solana.update_authority]}
        outcomes = _stage("gx", timings, peaks, validate_frame, joined, "nft_consistency", parameters)
    work = ("join", "checks", "metrics", "gx_import", "gx")
    return {
        "nfts": nfts,
        "rows": {name: len(frame) for name, frame in frames.items()} | {"nft_consistency": len(joined)},
        "findings": {"total": len(findings), "by_check": _by_check(findings), "digest": _digest(findings)},
        "gx_failed": [o.meta.check_name for o in outcomes if not o.success or o.error],
        "timings_s": timings,
        "wall_s": round(sum(timings.get(name, 0.0) for name in work), 2),
        "stage_peak_rss_mb": peaks,
        "rss_after_imports_mb": baseline_rss,
        "rss_with_inputs_mb": inputs_rss,
        "work_peak_rss_mb": max(peaks.get(name, 0.0) for name in work),
        "peak_rss_mb": max(peaks.values()),  # each stage's VmHWM (reset before it), so the process's peak
    }
