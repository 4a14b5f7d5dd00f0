"""Publishes outbox rows in order over MQTT v5, QoS 1; a row is forgotten only when the
ledger's acknowledgement (`rules.progress`, retained on `<base>/ack`) covers its seq.

A PUBACK marks a row published and frees its place in the window: the broker has it, but a
broker that crashes before writing its queues to disk loses it. Rows the broker has and the
ledger has not acknowledged are sent again, in order, when the ledger comes online (its
retained status, also at every reconnect of ours) and when the ledger acknowledges later
rows while the oldest one stays missing for `ledger_ack_timeout_s`; the ledger drops
duplicates by event id.

Delivery is decided only in `on_publish` (under MQTT v5 a refused publish still looks
published to `wait_for_publish`). `on_publish` runs on paho's network thread and may run
before `publish()` has returned the message id; it therefore only queues (mid, reason),
and the publisher thread, which also calls `publish()` and records each mid right after,
pairs acks with rows: an ack can never be looked up before its mid was recorded. No lock
is held across `publish()`.

A bounded window of rows is in flight at a time. paho resends its in-flight messages after
a reconnect; a row not acknowledged within `ack_timeout_s` while connected is sent again
from the oldest unacknowledged row, in order. A refusal (v5 reason code >= 128) is logged
and counted; the row stays and is retried after a pause (`refused="retry"`, nothing is
lost while an ACL is being fixed) or moves to the dead-letter table (`refused="dead_letter"`).
"""

from __future__ import annotations

import collections
import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from paho.mqtt.client import Client, MQTTMessage
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import MqttConfig
from edge.metrics import EdgeMetrics
from edge.outbox import Outbox, Row
from hwms_common.mqtt import connect, mqtt_client
from rules import topics
from rules.progress import ProgressError, SeqProgress
from rules.progress import loads as progress_loads
from rules.topics import LEDGER_STATUS_TOPIC

log = structlog.get_logger(__name__)


class _PackedOnce(Properties):
    """Publish properties that never change, serialised once: paho packs a message's
    properties on every publish, which cost a quarter of the publisher's time (measured)."""

    _packed: bytes | None = None

    def pack(self) -> bytes:
        if self._packed is None:  # Properties allows only MQTT names as attributes
            object.__setattr__(self, "_packed", super().pack())  # type: ignore[no-untyped-call]
        assert self._packed is not None
        return self._packed


@dataclass(slots=True)
class _InFlight:
    row: Row
    sent_at: float


class Publisher:
    def __init__(
        self,
        cfg: MqttConfig,
        *,
        client_id: str,
        outbox: Outbox,
        site: str,
        gateway: str,
        subscriptions: list[str],
        on_message: Callable[[str, bytes], None],
        metrics: EdgeMetrics,
        retry_pause_s: float = 5.0,
        ledger_status_topic: str = LEDGER_STATUS_TOPIC,
    ) -> None:
        self.cfg = cfg
        self.outbox = outbox
        self.status_topic = topics.status_topic(site, gateway)
        self.ack_topic = topics.ack_topic(site, gateway)
        self.ledger_status_topic = ledger_status_topic
        self.subscriptions = [*subscriptions, self.ack_topic, ledger_status_topic]
        self.ledger_ack_timeout_s = cfg.ledger_ack_timeout_s
        self.ledger_progress = SeqProgress()
        self._ledger: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        self._ledger_contact = 0.0  # monotonic time of the ledger's last ack or birth
        self._watch: tuple[int | None, float] = (None, 0.0)  # oldest unacked row, since when
        self._next_watch = 0.0
        self.on_message = on_message
        self.metrics = metrics
        self.refused = cfg.refused
        self.ack_timeout_s = cfg.ack_timeout_s
        self.retry_pause_s = retry_pause_s
        self.connected = threading.Event()
        self.wakeup = threading.Event()
        self._stop = threading.Event()
        self._acks: queue.SimpleQueue[tuple[int, int, str]] = queue.SimpleQueue()
        self._inflight: dict[int, _InFlight] = {}
        self._last_sent = 0
        self._pause_until = 0.0
        self._acked: list[int] = []
        self._buffer: collections.deque[Row] = collections.deque()  # rows read ahead, in order
        self._buffered_to = 0
        self._acked_since = 0.0
        self.heartbeat = time.monotonic()
        self.last_connect_error = ""
        v5 = cfg.protocol == "v5"
        self.client = mqtt_client(cfg, client_id, persistent=True)
        # paho keeps `inflight` unacknowledged on the wire and queues up to as many again, so
        # its network thread never waits for us; everything else stays in the outbox.
        self.window = cfg.inflight * 10
        self._wake_every = max(1, self.window // 4)
        self.client.max_inflight_messages_set(cfg.inflight)
        self.client.max_queued_messages_set(self.window)
        will = json.dumps({"state": "offline", "reason": "connection lost"})
        will_props = None
        if v5:
            will_props = Properties(PacketTypes.WILLMESSAGE)  # type: ignore[no-untyped-call]
            will_props.WillDelayInterval = 5  # a quick reconnect does not flap "offline"
        self.client.will_set(self.status_topic, will, qos=1, retain=True, properties=will_props)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self._props: Properties | None = None  # the same for every event: built once
        if v5:
            self._props = _PackedOnce(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            self._props.ContentType = "application/json"
            self._props.PayloadFormatIndicator = 1
        self._thread = threading.Thread(target=self._run, daemon=True, name="publisher")

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> Publisher:
        connect(self.client, self.cfg, session_expiry_s=3600)
        self._last_sent = self._buffered_to = self.outbox.last_published_id()
        self.client.loop_start()
        self._thread.start()
        return self

    def drain(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty (or the timeout); True when everything was sent."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if not self._inflight and not self._acked and self.outbox.is_empty():
                return True
            self.wakeup.set()
            time.sleep(0.05)
        return False

    def stop(self, status_reason: str = "stopped") -> None:
        self._stop.set()
        self.wakeup.set()
        self._thread.join(timeout=5)
        if self.connected.is_set():
            info = self.client.publish(
                self.status_topic,
                json.dumps({"state": "offline", "reason": status_reason}),
                qos=1,
                retain=True,
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()
        self.metrics.mqtt_connected.set(0)

    def publish_retained(self, topic: str, payload: dict[str, Any]) -> None:
        """Best-effort retained state (birth, per-reader status); not durable events."""
        self.client.publish(topic, json.dumps(payload), qos=1, retain=True)

    # --- paho callbacks (network thread: no blocking, no outbox access) --------------

    def _on_connect(self, client: Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.last_connect_error = str(reason)
            log.error(
                "mqtt connection refused",
                reason=str(reason),
                host=self.cfg.host,
                port=self.cfg.port,
            )
            return
        self.last_connect_error = ""
        self.metrics.mqtt_connects.inc()
        self.metrics.mqtt_connected.set(1)
        client.publish(
            self.status_topic,
            json.dumps({"state": "online", "at": time.time()}),
            qos=1,
            retain=True,
        )
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)
        log.info(
            "mqtt connected",
            host=self.cfg.host,
            port=self.cfg.port,
            session_present=bool(flags.session_present),
        )
        self.connected.set()
        self.wakeup.set()

    def _on_disconnect(self, _c: Client, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        if self.connected.is_set():
            # our own clean disconnect (at stop) is not news; anything else is
            level = log.info if reason.value == 0 else log.warning
            level("mqtt disconnected", reason=str(reason))
        self.connected.clear()
        self.metrics.mqtt_connected.set(0)

    def _on_publish(self, _c: Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        self._acks.put((mid, int(reason.value), str(reason)))
        if self._acks.qsize() >= self._wake_every:  # wake the publisher for a batch, not per ack
            self.wakeup.set()

    def _on_message(self, _c: Client, _u: Any, msg: MQTTMessage) -> None:
        if msg.topic in (self.ack_topic, self.ledger_status_topic):
            self._ledger.put((msg.topic, bytes(msg.payload)))  # the publisher thread applies it
            self.wakeup.set()
            return
        try:
            self.on_message(msg.topic, bytes(msg.payload))
        except Exception:  # one bad command must not stop the network thread
            log.exception("command handler failed", topic=msg.topic)

    # --- the publisher thread --------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            self.wakeup.clear()
            self._handle_acks()
            self._handle_ledger()
            if self.connected.is_set():
                self._check_timeouts()
                if time.monotonic() >= self._pause_until:
                    self._fill()
            self.wakeup.wait(0.002 if self._inflight else 0.05)
        self._handle_acks()
        self._flush_acked(force=True)

    def _rewind(self, to_id: int) -> None:
        """Send again from after `to_id` (a refusal or overdue acks)."""
        self._last_sent = min(self._last_sent, to_id)
        self._buffer.clear()
        self._buffered_to = self._last_sent

    def _next_rows(self, room: int) -> list[Row]:
        if len(self._buffer) < room:
            more = self.outbox.peek(self._buffered_to, 1000)
            if more:
                self._buffer.extend(more)
                self._buffered_to = more[-1].id
        return [self._buffer.popleft() for _ in range(min(room, len(self._buffer)))]

    def _fill(self) -> None:
        room = self.window - len(self._inflight)
        if room <= 0:
            return
        props = self._props
        for row in self._next_rows(room):
            info = self.client.publish(row.topic, row.payload, qos=1, properties=props)
            if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:  # paho is full: try again soon
                self._buffer.appendleft(row)
                return
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                log.warning("mqtt publish not accepted by the client", rc=int(info.rc))
                self._rewind(row.id - 1)
                return
            self._inflight[info.mid] = _InFlight(row, time.monotonic())
            self._last_sent = row.id

    def _handle_acks(self) -> None:
        done: list[int] = []
        while True:
            try:
                mid, code, name = self._acks.get_nowait()
            except queue.Empty:
                break
            if mid not in self._inflight:
                continue  # an ack for a row already resent after a timeout or rewind
            row_id = self._ack(mid, code, name)
            if row_id is not None:
                done.append(row_id)
        if done and not self._acked:
            self._acked_since = time.monotonic()
        self._acked += done
        self._flush_acked()

    def _flush_acked(self, force: bool = False) -> None:
        """Delete acknowledged rows in batches: one transaction per 50 ms or 500 rows."""
        if self._acked and (
            force or len(self._acked) >= 500 or time.monotonic() - self._acked_since > 0.05
        ):
            self.outbox.mark_published(self._acked)
            self._acked = []

    def _ack(self, mid: int, code: int, name: str) -> int | None:
        entry = self._inflight.pop(mid)
        if code < 128:  # Success or "no matching subscribers"
            self.metrics.published.inc()
            self.metrics.publish_latency.observe(time.monotonic() - entry.sent_at)
            return entry.row.id
        self.metrics.refused.labels(reason=name).inc()
        if self.refused == "dead_letter":
            self.outbox.dead_letter(entry.row, f"broker refused: {name} ({code})")
            self.metrics.dead_letters.inc()
            return None
        log.error(
            "broker refused event; keeping it for retry",
            event_id=entry.row.event_id,
            reason=name,
            code=code,
        )
        self._pause_until = time.monotonic() + self.retry_pause_s
        self._rewind(entry.row.id - 1)
        return None

    # --- the ledger's acknowledgements (publisher thread) ------------------------------

    def _handle_ledger(self) -> None:
        now = time.monotonic()
        while True:
            try:
                topic, payload = self._ledger.get_nowait()
            except queue.Empty:
                break
            if topic == self.ack_topic:
                self._ledger_ack(payload)
            elif _ledger_online(payload):
                self._ledger_contact = now
                self._resend_unacknowledged("the ledger is online")
        if now >= self._next_watch:  # the quiet-period rule, once a second
            self._next_watch = now + 1.0
            self._watch_oldest(now)

    def _ledger_ack(self, payload: bytes) -> None:
        try:
            progress = progress_loads(payload)
        except ProgressError as exc:
            self.metrics.commands_rejected.labels(reason="bad_ack").inc()
            log.warning("ledger acknowledgement ignored", error=str(exc))
            return
        self._ledger_contact = time.monotonic()
        if progress.committed < self.ledger_progress.committed:
            log.info(
                "an older acknowledgement (another ledger's, or a rebuilt ledger database)",
                committed=progress.committed,
                before=self.ledger_progress.committed,
            )
        self.ledger_progress = progress
        self.outbox.acknowledge(progress)

    def _watch_oldest(self, now: float) -> None:
        """Rows the ledger skipped: it acknowledges later ones, the oldest stays missing."""
        n, first, _created = self.outbox.unacknowledged()
        if n == 0 or first is None:
            self._watch = (None, now)
            return
        if self._watch[0] != first:
            self._watch = (first, now)
            return
        quiet = now - self._watch[1] >= self.ledger_ack_timeout_s
        if quiet and now - self._ledger_contact < self.ledger_ack_timeout_s:
            self._resend_unacknowledged("the ledger acknowledges later events, not these")
            self._watch = (first, now)

    def _resend_unacknowledged(self, reason: str) -> None:
        n, first, _created = self.outbox.unacknowledged()
        if n == 0 or first is None:
            return
        log.info("re-sending events the ledger has not acknowledged", rows=n, reason=reason)
        self.metrics.resent.inc(n)
        self._rewind(first - 1)

    def _check_timeouts(self) -> None:
        now = time.monotonic()
        stale = [m for m, e in self._inflight.items() if now - e.sent_at > self.ack_timeout_s]
        if not stale:
            return
        oldest = min(self._inflight[m].row.id for m in stale)
        log.warning("mqtt acks overdue; resending in order", rows=len(stale), from_row=oldest)
        for m in stale:
            del self._inflight[m]
        self._rewind(oldest - 1)


def _ledger_online(payload: bytes) -> bool:
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("state") == "online"
