"""Alert channels: a JSON webhook and a Slack incoming webhook delivered to a local receiver, failing and recovering."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from reconcile_pipeline.alerts import engine
from reconcile_pipeline.alerts.channels import LogChannel, Notification, SlackChannel, WebhookChannel, deliver
from reconcile_pipeline.alerts.store import AlertStore
from reconcile_pipeline.db.migrate import migrate
from reconcile_pipeline.layers.http import RetryPolicy
from reconcile_pipeline.sandbox.httpserver import LoopbackServer, Request, Response
from reconcile_pipeline.settings import load_settings

FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05)


class Receiver(LoopbackServer):
    """An incoming-webhook endpoint: records every JSON body; ``answer`` is what it says back."""

    name = "receiver"

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict] = []
        self.answer = Response(200, b"ok", {"Content-Type": "text/plain"})

    def route(self, request: Request) -> Response:
        if request.method != "POST" or request.path != "/hooks/T000/B000/secret-token":
            return Response(404, b"no_service")
        self.bodies.append(json.loads(request.body))
        return self.answer


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


def note(**overrides) -> Notification:
    fields = {"event": "opened", "fingerprint": "unknown:ipfs", "severity": "warning", "status": "open",
              "title": "ipfs could not be read: 40 checks unknown", "message": "gateway down", "kind": "unknown",
              "details": {"count": 40}, "alert_id": 7, "run_id": "run-1"}  # fmt: skip
    return Notification(**(fields | overrides))


def url(server: Receiver) -> str:
    return f"{server.url}/hooks/T000/B000/secret-token"


def send(channels, notes):
    return asyncio.run(deliver(channels, notes, timeout_s=2.0))


def test_json_webhook_receives_the_alert(receiver):
    (outcome,) = send([WebhookChannel(url(receiver), FAST)], [note()])
    assert outcome == {"webhook": "delivered"}
    (body,) = receiver.bodies
    assert body["event"] == "opened" and body["fingerprint"] == "unknown:ipfs" and body["severity"] == "warning"
    assert body["details"] == {"count": 40} and body["source"] == "reconcile-pipeline" and body["sent_at"]


def test_slack_webhook_gets_text_and_blocks(receiver):
    (outcome,) = send([SlackChannel(url(receiver), FAST)], [note(event="resolved", severity="info")])
    assert outcome == {"slack": "delivered"}
    (body,) = receiver.bodies
    assert body["text"].startswith("📊 *Resolved (info)*: ipfs could not be read")
    assert body["blocks"][0]["type"] == "section" and "gateway down" in body["blocks"][0]["text"]["text"]
    assert "`unknown:ipfs`" in body["blocks"][1]["elements"][0]["text"]


def test_a_flaky_receiver_is_retried_within_one_delivery(receiver):
    receiver.faults.mode, receiver.faults.flaky_every = "flaky", 2  # every second request fails with 503 ...
    receiver._flaky_counter = 1  # ... starting with the first: the POST fails, its retry goes through
    (outcome,) = send([WebhookChannel(url(receiver), FAST)], [note()])
    assert outcome == {"webhook": "delivered"} and receiver.requests["POST /hooks/T000"] == 2


def test_failures_name_no_secret_and_4xx_is_not_retried(receiver):
    receiver.faults.mode = "error"
    (outcome,) = send([WebhookChannel(url(receiver), FAST)], [note()])
    assert outcome["webhook"].startswith("failed: server_error") and "secret-token" not in outcome["webhook"]
    assert receiver.requests["POST /hooks/T000"] == 3
    receiver.faults.reset()
    (outcome,) = send([SlackChannel(f"{receiver.url}/hooks/wrong", FAST)], [note()])
    assert outcome == {"slack": "failed: HTTP 404"} and receiver.requests["POST /hooks/wrong"] == 1


def test_notices_go_to_the_log_and_to_webhooks_only_when_asked(receiver):
    notice = note(event="notice", severity="info", fingerprint="notice:run:1")
    channels = [LogChannel(), WebhookChannel(url(receiver), FAST), SlackChannel(url(receiver), FAST, notices=True)]
    (outcome,) = send(channels, [notice])
    assert outcome == {"log": "delivered", "slack": "delivered"}


def test_an_undelivered_alert_is_sent_again_once_the_receiver_recovers(receiver, tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(db)
    settings = load_settings(
        None,
        data_dir=str(tmp_path),
        database={"url": db},
        http={"max_retry_attempts": 2, "retry_delay_s": 0.01, "retry_max_delay_s": 0.05, "timeout_s": 2.0},
        alerts={"webhook_url": url(receiver), "slack_webhook_url": url(receiver)},
    )
    receiver.faults.mode = "down"
    engine.run_failed(settings, "reconcile_regular", "run-9", "step ipfs_objects failed")
    row = AlertStore(settings).frame(("open",)).iloc[0]
    assert row["deliveries"]["opened"]["log"] == "delivered"
    assert row["deliveries"]["opened"]["webhook"].startswith("failed: connect")
    assert receiver.bodies == []
    receiver.faults.reset()
    assert engine.deliver_pending(settings) == {"webhook:delivered": 1, "slack:delivered": 1}
    assert [body.get("fingerprint", body.get("text")) for body in receiver.bodies][0] == "run:reconcile_regular"
    row = AlertStore(settings).frame(("open",)).iloc[0]
    assert set(row["deliveries"]["opened"].values()) == {"delivered"}
    assert engine.deliver_pending(settings) == {}  # nothing left to send: never twice
