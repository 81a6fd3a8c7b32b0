"""Alert channels: the log (always on), a JSON webhook, a Slack incoming webhook.

Both webhooks POST through the project's one HTTP seam (:func:`reconcile_pipeline.layers.http.fetch`):
retries with backoff on refused connections, timeouts, 5xx and 429 (Retry-After honoured), a byte cap
on the answer. Any 2xx is delivered; anything else is a failed delivery that the engine retries at its
next evaluation. Webhook URLs are secrets: an outcome names the channel and the error class, never the URL.

What goes where: alerts opened and resolved go to every channel; informational notices go to the log, and
to the webhooks only with ``[alerts] notify_info``.

JSON webhook body (one object per notification)::

    {"event": "opened" | "resolved" | "notice", "fingerprint", "severity", "status", "title", "message",
     "details", "kind", "check_id", "entity_type", "entity_id", "alert_id", "run_id", "opened_at",
     "resolved_at", "sent_at", "source": "reconcile-pipeline"}
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import httpx

from ..layers.errors import LayerError
from ..layers.http import RetryPolicy, fetch

LOG = logging.getLogger("reconcile_pipeline.alerts")
ICONS = {"critical": "🔴", "warning": "🟡", "info": "📊"}
ANSWER_CAP = 64 * 1024
DELIVERED = "delivered"


@dataclass
class Notification:
    event: str  # opened | resolved | notice
    fingerprint: str
    severity: str
    status: str
    title: str
    message: str = ""
    details: dict = field(default_factory=dict)
    kind: str = ""
    check_id: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    alert_id: int | None = None
    run_id: str | None = None
    opened_at: str | None = None
    resolved_at: str | None = None

    def payload(self) -> dict:
        sent = datetime.now(UTC).isoformat()
        return asdict(self) | {"sent_at": sent, "source": "reconcile-pipeline"}

    def line(self) -> str:
        verb = {"opened": "ALERT", "resolved": "RESOLVED", "notice": "INFO"}.get(self.event, self.event.upper())
        icon = ICONS.get(self.severity, "")
        return f"{icon} [{verb} {self.severity}] {self.title}: {self.message} ({self.fingerprint})"


class Channel:
    name = "channel"
    notices = False  # does this channel get informational notices?

    def wants(self, note: Notification) -> bool:
        return note.event != "notice" or self.notices

    async def send(self, note: Notification, client: httpx.AsyncClient) -> str:  # pragma: no cover - interface
        raise NotImplementedError


class LogChannel(Channel):
    """Python logging (and the Dagster log when one is given): the default, always-on channel."""

    name = "log"
    notices = True

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or LOG

    async def send(self, note: Notification, client: httpx.AsyncClient) -> str:
        level = {"critical": logging.ERROR, "warning": logging.WARNING}.get(note.severity, logging.INFO)
        if note.event == "resolved":
            level = logging.INFO
        self.logger.log(level, note.line())
        return DELIVERED


class WebhookChannel(Channel):
    """POST the notification as JSON."""

    name = "webhook"

    def __init__(self, url: str, retry: RetryPolicy, *, notices: bool = False) -> None:
        self.url, self.retry, self.notices = url, retry, notices

    def body(self, note: Notification) -> dict:
        return note.payload()

    async def send(self, note: Notification, client: httpx.AsyncClient) -> str:
        try:
            result = await fetch(
                client, "POST", self.url, layer=f"alerts:{self.name}", where=f"{self.name} webhook",  # URL is secret
                max_bytes=ANSWER_CAP, retry=self.retry, json=self.body(note),
            )  # fmt: skip
        except LayerError as exc:
            return f"failed: {exc.kind}: {exc.reason}"[:300]
        if 200 <= result.status_code < 300:
            return DELIVERED
        return f"failed: HTTP {result.status_code}"


class SlackChannel(WebhookChannel):
    """A Slack incoming webhook: ``text`` (the fallback) plus a section block with the details."""

    name = "slack"

    def body(self, note: Notification) -> dict:
        verb = {"opened": "Alert", "resolved": "Resolved", "notice": "Info"}.get(note.event, note.event)
        text = f"{ICONS.get(note.severity, '')} *{verb} ({note.severity})*: {note.title}"
        fields = [f"*fingerprint*: `{note.fingerprint}`"] + ([f"*run*: `{note.run_id}`"] if note.run_id else [])
        return {
            "text": text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"{text}\n{note.message}"[:2900]}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "  ".join(fields)[:2900]}]},
            ],
        }


def channels_from_settings(settings, logger: logging.Logger | None = None) -> list[Channel]:
    """The log, plus each webhook whose URL is set."""
    from .. import clients

    alerts = settings.alerts
    retry = clients.retry_policy(settings)
    channels: list[Channel] = [LogChannel(logger)]
    if alerts.webhook_url.get_secret_value():
        channels.append(WebhookChannel(alerts.webhook_url.get_secret_value(), retry, notices=alerts.notify_info))
    if alerts.slack_webhook_url.get_secret_value():
        channels.append(SlackChannel(alerts.slack_webhook_url.get_secret_value(), retry, notices=alerts.notify_info))
    return channels


async def deliver(
    channels: list[Channel], notes: list[Notification], *, timeout_s: float = 10.0, skip: dict | None = None
) -> list[dict[str, str]]:
    """Send each notification to each channel that wants it; per notification, channel -> outcome.

    ``skip`` (index -> channels already delivered) leaves out what an earlier attempt delivered."""
    outcomes: list[dict[str, str]] = []
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
        for index, note in enumerate(notes):
            done = (skip or {}).get(index, set())
            outcome = {}
            for channel in channels:
                if channel.wants(note) and channel.name not in done:
                    outcome[channel.name] = await channel.send(note, client)
            outcomes.append(outcome)
    return outcomes
