"""Telling people about alerts: MQTT (`hwms/v1/central/alerts/<kind>`) and an optional webhook.

An alert is notified when it is raised, when its state or severity changes, and again every
`renotify_s` while nobody has acknowledged it; the escalation tier (who must be woken) rises
with the time it has been waiting unacknowledged. The last notification is recorded on the
alert row, so a restarted ledger neither repeats nor forgets one. A sink that fails is
logged and counted; the alert stays due and is tried again on the next pass.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from paho.mqtt.client import Client
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from central.alerts import as_dict
from central.clock import as_utc
from central.models import Alert
from central.vocab import AlertState
from rules.topics import alert_topic

log = structlog.get_logger(__name__)


class AlertSink(Protocol):
    name: str

    def send(self, alert: dict[str, Any]) -> None:
        """Deliver one alert notification; raise on failure."""


@dataclass(frozen=True, slots=True)
class Tier:
    after_s: float  # unacknowledged for this long...
    name: str  # ...wakes this group (e.g. "ward nurse", "pharmacist on call")


@dataclass(slots=True)
class MqttAlertSink:
    client: Client
    name: str = "mqtt"

    def send(self, alert: dict[str, Any]) -> None:
        info = self.client.publish(alert_topic(str(alert["kind"])), json.dumps(alert), qos=1)
        if info.rc != 0:
            raise ConnectionError(f"MQTT publish failed (rc {info.rc})")


@dataclass(slots=True)
class WebhookSink:
    url: str
    timeout_s: float = 5.0
    name: str = "webhook"

    def send(self, alert: dict[str, Any]) -> None:
        req = urllib.request.Request(
            self.url,
            data=json.dumps(alert).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            if resp.status >= 300:
                raise ConnectionError(f"webhook answered HTTP {resp.status}")


def tier_of(alert: Alert, tiers: Sequence[Tier], now: datetime) -> int:
    """0 = first responders; +1 for every tier whose delay has passed unacknowledged."""
    if alert.state != AlertState.RAISED:
        return alert.tier
    waited = (now - as_utc(alert.raised_at)).total_seconds()
    return sum(1 for t in tiers if waited >= t.after_s)


def _due(now: datetime, renotify_s: float, tiers: Sequence[Tier]) -> ColumnElement[bool]:
    """`is_due` in SQL, so a pass loads only the alerts to notify (there may be tens of
    thousands open, e.g. near-expiry batches): changed since notified, a reminder due, or the
    next escalation tier reached."""
    raised = Alert.state == AlertState.RAISED
    return or_(
        Alert.notified_state.is_(None),
        Alert.notified_state != Alert.state,
        Alert.notified_severity.is_distinct_from(Alert.severity),
        and_(raised, Alert.notified_at <= now - timedelta(seconds=renotify_s)),
        *(
            and_(raised, Alert.tier == i, Alert.raised_at <= now - timedelta(seconds=t.after_s))
            for i, t in enumerate(tiers)
        ),
    )


def is_due(alert: Alert, tiers: Sequence[Tier], renotify_s: float, now: datetime) -> bool:
    if (alert.notified_state, alert.notified_severity) != (alert.state, alert.severity):
        return True
    if alert.state != AlertState.RAISED or alert.notified_at is None:
        return False
    if tier_of(alert, tiers, now) > alert.tier:
        return True
    return now - as_utc(alert.notified_at) >= timedelta(seconds=renotify_s)


def notify_due(
    s: Session,
    sinks: Sequence[AlertSink],
    *,
    now: datetime,
    renotify_s: float = 900.0,
    tiers: Sequence[Tier] = (),
    on_failure: Callable[[str], None] | None = None,
) -> int:
    """Send every due notification; returns how many alerts were notified."""
    rows = s.scalars(
        select(Alert)
        .where(_due(now, renotify_s, tiers))
        .order_by(Alert.id)
        .with_for_update(skip_locked=True)  # several ledgers: each alert notified by one
    ).all()
    sent = 0
    for alert in rows:
        if not is_due(alert, tiers, renotify_s, now):
            continue
        tier = tier_of(alert, tiers, now)
        payload = as_dict(alert) | {
            "tier": tier,
            "notify": tiers[tier - 1].name if tier and tiers else "",
            "notification": alert.notify_count + 1,
        }
        ok = True
        for sink in sinks:
            try:
                sink.send(payload)
            except (OSError, ValueError) as exc:
                ok = False
                if on_failure is not None:
                    on_failure(sink.name)
                log.warning(
                    "alert notification failed", sink=sink.name, alert=alert.id, error=str(exc)
                )
        if not ok:
            continue
        alert.notified_state, alert.notified_severity = alert.state, alert.severity
        alert.notified_at, alert.tier = now, tier
        alert.notify_count += 1
        sent += 1
    return sent
