"""Headless Chromium, driven through the DevTools protocol: it really sees network and console events.

:class:`Chromium` starts Debian's chromium with a fresh profile and ``--remote-debugging-port=0``, reads
the port from ``DevToolsActivePort``, and for each visit records every request, failed load, console
message, uncaught exception and log entry (CSP violations land there), the load time and a full-page
screenshot. The tests here prove the observer works (a bad page is caught) and that a report of a
million findings stays a few MB and opens quickly. Skipped only when no chromium binary exists.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reconcile_pipeline.checks.catalogue import CATALOGUE
from reconcile_pipeline.reports import RunFrames, build_report
from reconcile_pipeline.settings import Settings

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]
SIZE_BOUND = 5 * 1024 * 1024


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


@dataclass
class Visit:
    requests: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    console: list[dict] = field(default_factory=list)
    exceptions: list[dict] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)
    load_s: float = 0.0
    screenshot: bytes = b""

    @property
    def errors(self) -> list:
        console = [c for c in self.console if c.get("type") in ("error", "assert")]
        return console + self.exceptions + [e for e in self.log if e.get("level") == "error"]


class Chromium:
    """One headless browser; :meth:`visit` opens a URL in a new tab and records what happened."""

    def __init__(self, binary: str) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="report-chromium-"))
        command = [binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file, deadline = self.profile / "DevToolsActivePort", time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().split()) >= 2):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start")
            time.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        self.ws_url = f"ws://127.0.0.1:{port}{path}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def visit(self, url: str, *, width: int = 1280, timeout_s: float = 60) -> Visit:
        return asyncio.run(asyncio.wait_for(self._visit(url, width), timeout_s))

    async def _visit(self, url: str, width: int) -> Visit:
        from websockets.asyncio.client import connect

        visit, ids, pending, loaded = Visit(), itertools.count(1), {}, asyncio.Event()
        handlers = {
            "Network.requestWillBeSent": lambda p: visit.requests.append(p["request"]["url"]),
            "Network.loadingFailed": visit.failed.append,
            "Runtime.consoleAPICalled": visit.console.append,
            "Runtime.exceptionThrown": visit.exceptions.append,
            "Log.entryAdded": lambda p: visit.log.append(p["entry"]),
            "Page.loadEventFired": lambda p: loaded.set(),
        }
        async with connect(self.ws_url, max_size=None) as ws:

            async def read() -> None:
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("id") in pending:
                        pending.pop(message["id"]).set_result(message)
                    elif message.get("method") in handlers:
                        handlers[message["method"]](message.get("params", {}))

            async def call(method: str, session: str | None = None, **params) -> dict:
                ident = next(ids)
                pending[ident] = asyncio.get_running_loop().create_future()
                await ws.send(
                    json.dumps(
                        {"id": ident, "method": method, "params": params} | ({"sessionId": session} if session else {})
                    )
                )
                reply = await pending[ident]
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

            reader = asyncio.create_task(read())
            target = (await call("Target.createTarget", url="about:blank"))["targetId"]
            session = (await call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
            for domain in ("Network", "Runtime", "Log", "Page"):
                await call(f"{domain}.enable", session)
            await call(
                "Emulation.setDeviceMetricsOverride",
                session,
                width=width,
                height=900,
                deviceScaleFactor=1,
                mobile=False,
            )
            started = time.monotonic()
            await call("Page.navigate", session, url=url)
            await loaded.wait()
            visit.load_s = time.monotonic() - started
            await asyncio.sleep(0.3)  # late console messages and failed loads
            height = (await call("Page.getLayoutMetrics", session))["cssContentSize"]["height"]
            clip = {"x": 0, "y": 0, "width": width, "height": min(height, 16000), "scale": 1}
            shot = await call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True, clip=clip)
            visit.screenshot = base64.b64decode(shot["data"])
            await call("Target.closeTarget", targetId=target)
            reader.cancel()
        return visit


@pytest.fixture(scope="module")
def chromium():
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary (Debian: apt-get install chromium)")
    browser = Chromium(binary)
    yield browser
    browser.close()


def synthetic_findings(count: int, seed: int = 0) -> pd.DataFrame:
    """``count`` findings over every check of the catalogue, 10% unknown for two reasons, ids reused ~3 times."""
    rng = np.random.default_rng(seed)
    specs = list(CATALOGUE.values())
    pick = rng.integers(0, len(specs), count)
    unknown = rng.random(count) < 0.1

    def attribute(name: str) -> np.ndarray:
        return np.array([getattr(s, name) for s in specs], dtype=object)[pick]

    reasons = np.array(
        [json.dumps({"reason": r}) for r in ("solana: connection refused", "ipfs: timed out")], dtype=object
    )
    observed = np.array([json.dumps({"observed": f"value-{i}"}) for i in range(100)], dtype=object)
    pool = np.array([f"E{i:07d}" for i in range(max(count // 3, 1))], dtype=object)
    layers = np.empty(len(specs), dtype=object)
    layers[:] = [np.array(s.layers, dtype=object) for s in specs]
    return pd.DataFrame({
        "check_id": attribute("check_id"),
        "entity_type": attribute("entity_type"),
        "entity_id": pool[rng.integers(0, len(pool), count)],
        "layers": layers[pick],
        "status": np.where(unknown, "unknown", "fail").astype(object),
        "severity": attribute("severity"),
        "truth": attribute("truth"),
        "repair": np.where(unknown, "NONE", attribute("repair")).astype(object),
        "details": np.where(unknown, reasons[rng.integers(0, 2, count)], observed[rng.integers(0, 100, count)]),
    })  # fmt: skip


def test_the_observer_catches_failed_requests_and_console_errors(chromium, tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        "<html><body><img src='http://127.0.0.1:9/missing.png'><script>console.error('boom')</script></body></html>"
    )
    visit = chromium.visit(page.as_uri())
    assert "http://127.0.0.1:9/missing.png" in visit.requests
    assert len(visit.failed) == 1
    assert [c["args"][0]["value"] for c in visit.console if c["type"] == "error"] == ["boom"]


def test_a_million_findings_make_a_small_report_that_opens_quickly(chromium, tmp_path):
    findings = synthetic_findings(1_000_000)
    settings = Settings(data_dir=tmp_path / "data", database={"url": f"sqlite:///{tmp_path / 'absent.db'}"})
    started = time.monotonic()
    result = build_report(settings, frames=RunFrames(run_id="big-run", findings=findings), out_dir=tmp_path / "out")
    built_s = time.monotonic() - started
    assert result.html_bytes == result.html_path.stat().st_size
    assert 50_000 < result.html_bytes < SIZE_BOUND
    assert built_s < 60
    totals = result.data.totals
    assert (totals["findings"], totals["fail"] + totals["unknown"]) == (1_000_000, 1_000_000)
    assert totals["unknown"] == int((findings["status"] == "unknown").sum())
    assert sum(len(rows) for rows, _ in result.data.samples.values()) <= 25 * len(CATALOGUE)
    assert pd.read_parquet(result.folder / "findings.parquet", columns=["check_id"]).shape == (1_000_000, 1)
    visit = chromium.visit(result.html_path.as_uri())
    assert visit.requests == [result.html_path.as_uri()]
    assert visit.failed == [] and visit.errors == []
    assert visit.load_s < 5
