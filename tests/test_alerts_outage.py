"""A real outage never resolves anything (issue 16, point 1).

A world with every fault is reconciled (regular cadence, alerts evaluated) until its alerts are open; then
the settings point every remote layer (Solana RPC, the three gateways, Pinata, KV, R2) at loopback ports
nothing listens on: real connections refused through the production clients. That run must resolve and clear
nothing (alerts, manual-review items), count no unknown entity as verified, and open one alert at once per
layer that could not be read, naming the cause and how many checks it left unknown. When the layers answer
again, those alerts resolve. A partial outage (KV alone) leaves the alerts that need KV as they were, while an
alert whose checks need only readable layers still resolves once its problem is fixed by hand (SQL UPDATE).
One gateway of three down, with k = 2, is no IPFS outage: what two gateways served is judged, only what
neither served is unknown, and nothing resolves.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from reconcile_pipeline.alerts.store import AlertStore
from reconcile_pipeline.cadences import regular_scope
from reconcile_pipeline.checks.catalogue import CATALOGUE
from reconcile_pipeline.commands import alerts_line
from reconcile_pipeline.repairs.queue_review import cleared_items
from reconcile_pipeline.runner import RunSummary, run_scope
from tests.worldkit import running_world

FAST = {
    "RECONCILE_HTTP__MAX_RETRY_ATTEMPTS": "1",
    "RECONCILE_HTTP__RETRY_DELAY_S": "0.01",
    "RECONCILE_HTTP__RETRY_MAX_DELAY_S": "0.05",
    "RECONCILE_HTTP__TIMEOUT_S": "5",
    "RECONCILE_IPFS__TIMEOUT_S": "5",
    "RECONCILE_ALERTS__CONSISTENCY_FAILURE_THRESHOLD": "2",
}
REMOTE = ("solana", "ipfs", "pinata", "kv", "r2")


def dead_url() -> str:
    """A loopback address nothing listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def dead_layers(*layers: str) -> dict[str, str]:
    urls = {
        "solana": {"RECONCILE_SOLANA__RPC_URL": dead_url()},
        "ipfs": {"RECONCILE_IPFS__GATEWAYS": json.dumps([dead_url() for _ in range(3)])},
        "pinata": {"RECONCILE_PINATA__API_URL": dead_url()},
        "kv": {"RECONCILE_BLOCKSTORE__KV_API_URL": dead_url() + "/client/v4"},
        "r2": {"RECONCILE_BLOCKSTORE__R2_ENDPOINT_URL": dead_url()},
    }
    return {name: value for layer in layers for name, value in urls[layer].items()}


class Lab:
    def __init__(self, world, settings, config: str) -> None:
        self.world, self.settings, self.config = world, settings, config

    def run(self) -> tuple[RunSummary, pd.DataFrame]:
        summary = run_scope(self.config, regular_scope())
        assert summary.success, summary.run_id
        return summary, pd.read_parquet(summary.assets["consistency_findings"]["path"])

    def alerts(self) -> pd.DataFrame:
        """The latest episode of each fingerprint (the store lists the newest first)."""
        alerts = AlertStore(self.settings).frame()
        return alerts[alerts["kind"] != "notice"].drop_duplicates("fingerprint", keep="first")

    def latest(self) -> dict[str, str]:
        alerts = self.alerts()
        return dict(zip(alerts["fingerprint"], alerts["status"], strict=True))

    def live(self) -> dict[str, str]:
        alerts = self.alerts()
        alerts = alerts[alerts["status"].isin(["pending", "open"])]
        return dict(zip(alerts["fingerprint"], alerts["status"], strict=True))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with running_world(tmp_path, seed=17, nfts=12, blocks=8) as (world, settings), pytest.MonkeyPatch.context() as env:
        for name, value in FAST.items():
            env.setenv(name, value)
        yield Lab(world, settings, str(tmp_path / "reconcile.toml"))


def open_alerts(lab: Lab, runs: int = 2) -> tuple[dict[str, str], pd.DataFrame]:
    for _ in range(runs):
        _, findings = lab.run()
    live = lab.live()
    assert sum(status == "open" for status in live.values()) >= 20, live
    return live, findings


def test_a_total_outage_resolves_nothing_and_alerts_per_unreadable_layer(lab, monkeypatch):
    before, healthy = open_alerts(lab)
    failing = healthy[healthy["status"] == "fail"]
    items = [{"id": str(i), "check_id": c, "entity_id": e} for i, (c, e) in
             enumerate(zip(failing["check_id"], failing["entity_id"], strict=True))]  # fmt: skip
    for name, value in dead_layers(*REMOTE).items():
        monkeypatch.setenv(name, value)

    summary, findings = lab.run()

    decisions = summary.alerts["decisions"]
    assert "resolve" not in decisions and "clear" not in decisions, decisions
    assert alerts_line(summary.alerts).startswith(f"alerts: {len(REMOTE)} opened, 0 resolved")
    live = lab.live()
    for fp, status in before.items():  # still live; an open one still open
        assert live.get(fp) in (("open",) if status == "open" else ("pending", "open")), fp
    unread = lab.alerts().set_index("fingerprint").loc[[f"unknown:{layer}" for layer in REMOTE]]
    assert set(unread["status"]) == {"open"} and set(unread["streak"]) == {1}  # at once: threshold 1
    for layer, alert in unread.iterrows():
        name = layer.removeprefix("unknown:")
        assert alert["title"].startswith(f"{name} could not be read: ")
        details = alert["details"]
        assert details["checks"] >= 1 and name in details["cause"], details  # the cause, how many checks
    # nothing unknown passes: no manual-review item is cleared, no unknown entity is counted as verified
    assert cleared_items(items, findings) == []
    alerts = summary.alerts
    assert alerts["entities_unknown"] > 0
    verified = alerts["entities"] - alerts["entities_failing"] - alerts["entities_unknown"]
    notice = AlertStore(lab.settings).frame().query("kind == 'notice'")["message"].iloc[0]
    assert f"{verified} of {alerts['entities']} entities verified" in notice
    metrics = pd.read_parquet(summary.assets["nft_findings"]["path"]).attrs["consistencyMetrics"]["crossLayer"]
    assert metrics["consistentOperations"] == 0

    for name in dead_layers(*REMOTE):
        monkeypatch.delenv(name)
    _, healed = lab.run()
    unknown_ipfs = healed[(healed["status"] == "unknown") & healed["details"].str.contains("gateway|ipfs")]
    after = lab.latest()
    for layer in ("solana", "pinata", "kv", "r2"):
        assert after[f"unknown:{layer}"] == "resolved", layer
    assert (after["unknown:ipfs"] == "resolved") == unknown_ipfs.empty


def _needs(fingerprint: str, layer: str) -> bool:
    parts = fingerprint.split(":")
    check = parts[1] if parts[0] in ("finding", "group") else None
    return check is None or check not in CATALOGUE or layer in CATALOGUE[check].layers


def test_kv_down_holds_what_needs_kv_and_resolves_what_was_fixed_by_hand(lab, monkeypatch):
    before, healthy = open_alerts(lab)
    uri = healthy[(healthy["check_id"] == "CHAIN_URI_MISMATCH") & (healthy["status"] == "fail")].iloc[0]
    fingerprint = f"finding:CHAIN_URI_MISMATCH:nft:{uri['entity_id']}"
    assert before[fingerprint] == "open"
    chain_uri = json.loads(uri["details"])["chain_uri"]
    engine = sa.create_engine(lab.settings.database.url.get_secret_value())
    with engine.begin() as conn:  # the fix, by hand: the DB takes the chain's URI
        done = conn.execute(sa.text("UPDATE minting_operations SET metadata_uri = :uri WHERE mint_address = :mint"),
                            {"uri": chain_uri, "mint": uri["entity_id"]})  # fmt: skip
        assert done.rowcount == 1
    engine.dispose()
    for name, value in dead_layers("kv").items():
        monkeypatch.setenv(name, value)

    lab.run()

    after = lab.latest()
    assert after[fingerprint] == "resolved"  # judged on DB and Solana, both read
    assert after["unknown:kv"] == "open"
    for fp, status in before.items():
        if _needs(fp, "kv"):
            assert after[fp] == status, fp  # KV could not be read: neither resolved nor cleared


def test_one_gateway_down_of_three_is_not_an_ipfs_outage(lab, monkeypatch):
    before, _ = open_alerts(lab)
    gateways = list(lab.settings.ipfs.gateways)
    assert len(gateways) == 3 and lab.settings.ipfs.min_gateways == 2
    dead = dead_url()
    monkeypatch.setenv("RECONCILE_IPFS__GATEWAYS", json.dumps([*gateways[:2], dead]))

    summary, findings = lab.run()

    decisions = summary.alerts["decisions"]
    assert "resolve" not in decisions and "clear" not in decisions, decisions
    live = lab.live()
    assert live.get("unknown:ipfs") != "open"  # k gateways read: at most "partly unreadable", under its threshold
    # only what neither read gateway served is unknown (it may be on the third): each unknown names the dead one
    unknown = findings[findings["status"] == "unknown"]
    assert unknown["details"].str.contains(dead).all(), unknown["details"].tolist()
    for fp, status in before.items():
        assert live.get(fp) in (("open",) if status == "open" else ("pending", "open")), fp
