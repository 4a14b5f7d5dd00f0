"""MQTT ingest into the ledger: nothing lost, nothing counted twice.

MQTT v5 with a persistent session (clean start off, session expiry) on a shared
subscription (`$share/ledger/hwms/v1/+/+/events/#`), QoS 1 and manual acknowledgement: a
message is acknowledged only after the transaction holding it committed (or after it went to
the dead letters), so a crash or a database outage means redelivery, never loss. Messages
waiting together are applied in one transaction (up to `batch_size`). Several ledger
processes can share the load against one PostgreSQL; idempotency by `event_id` makes the
redeliveries harmless. A payload that is not a valid event of a known schema, or whose
site/gateway differ from its topic, goes to `dead_letter` with the reason and raw bytes.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from paho.mqtt.client import Client, MQTTMessage
from sqlalchemy import select
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from central import alerts
from central.config import CentralConfig
from central.ledger import Ledger
from central.metrics import LedgerMetrics
from central.models import DeadLetter
from central.vocab import Outcome
from hwms_common.config import MqttConnection
from hwms_common.mqtt import connect, mqtt_client
from rules import topics
from rules.commissioning import CommissioningMap
from rules.events import Event, EventSchemaError, loads
from rules.progress import SeqProgress
from rules.topics import EVENTS_FILTER, LEDGER_STATUS_TOPIC, STATUS_FILTER, ack_topic

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

log = structlog.get_logger(__name__)

MAX_STATUS_BYTES = 64 * 1024


class Ingestor:
    def __init__(
        self,
        ledger: Ledger,
        conn: MqttConnection,
        *,
        client_id: str,
        share_group: str = "ledger",
        session_expiry_s: int = 7 * 86400,
        metrics: LedgerMetrics | None = None,
        batch_size: int = 100,
        gateways: frozenset[str] = frozenset(),
    ) -> None:
        self.ledger = ledger
        self.client_id = client_id
        # "<site>/<gateway>" the configuration lists; empty: every gateway is accepted
        self.gateways = gateways
        self._seen_gateways: set[str] = set()
        self.failure: BaseException | None = None  # why the worker stopped, if it did
        self.metrics = metrics or LedgerMetrics()
        self.conn = conn
        self.v5 = conn.protocol == "v5"
        if share_group and not self.v5:
            log.warning("MQTT 3.1.1 has no shared subscriptions: run one ledger only")
            share_group = ""
        self.topic = f"$share/{share_group}/{EVENTS_FILTER}" if share_group else EVENTS_FILTER
        self.counts: Counter[str] = Counter()
        self.connected = threading.Event()
        self._session_expiry_s = session_expiry_s
        # MQTT 3.1.1 (a broker without v5): a persistent session is clean_session=False
        self.client = mqtt_client(conn, client_id, persistent=True, manual_ack=True)
        self.client.message_callback_add(STATUS_FILTER, self._on_status)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self.connected.clear()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self.connected.set()  # ready once the broker says so
        # the ledger's own retained status: an edge that sees it come online re-sends what
        # the ledger has not acknowledged (it may have been lost with a broker's queues)
        self.client.will_set(LEDGER_STATUS_TOPIC, json.dumps({"state": "offline"}), qos=1,
                             retain=True)  # fmt: skip
        # Measured (bench/bench_ledger.py): a transaction applies all its events with one
        # statement per table, so batching waiting messages is several times faster on both
        # SQLite and PostgreSQL; an idle ledger still applies a lone message at once.
        self.batch_size = batch_size
        self._inbox: queue.Queue[MQTTMessage] = queue.Queue()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, daemon=True, name="ledger-ingest")

    def start(self) -> Ingestor:
        connect(self.client, self.conn, session_expiry_s=self._session_expiry_s)
        self.client.loop_start()
        self._worker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._worker.is_alive():
            self._worker.join(timeout=10)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("ledger mqtt connection refused", reason=str(reason))
            return
        client.subscribe([(self.topic, 1), (STATUS_FILTER, 1)])
        client.publish(
            LEDGER_STATUS_TOPIC,
            json.dumps({"state": "online", "client_id": self.client_id,
                        "at": self.ledger.clock.now().isoformat()}),
            qos=1, retain=True,
        )  # fmt: skip
        log.info(
            "ledger subscribing", topic=self.topic, session_present=bool(flags.session_present)
        )

    def _on_status(self, client: Client, _u: Any, msg: MQTTMessage) -> None:
        """A gateway's retained status: offline (its Last Will, or a clean stop) raises an
        alert, online clears it. Every ledger sees it; the alert is one per gateway.
        Acknowledged whatever happens (manual acks: an unacknowledged message would hold
        one of the broker's in-flight slots for this session until it reconnects), and
        nothing in it may raise: an exception here would end paho's network thread."""
        try:
            self._gateway_status(msg)
        except Exception:
            log.exception("gateway status not handled", topic=msg.topic[:200])
        finally:
            client.ack(msg.mid, msg.qos)

    def _gateway_status(self, msg: MQTTMessage) -> None:
        if msg.topic == LEDGER_STATUS_TOPIC:  # ours, under the same filter: not a gateway
            return
        where = topics.parse_gateway_topic(msg.topic)
        payload = bytes(msg.payload)
        try:
            if where is None or where.leaf != "status" or where.rest:
                raise ValueError("not a gateway status topic")
            if len(payload) > MAX_STATUS_BYTES:
                raise ValueError(f"status of {len(payload)} bytes is over {MAX_STATUS_BYTES}")
            data = json.loads(payload)
            state = str(data["state"])
            if state not in ("online", "offline"):
                raise ValueError(f"unknown state {state[:40]!r}")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            reason = f"unreadable gateway status: {type(exc).__name__}: {_first_line(exc)}"
            self._dead_letter_once(msg.topic, payload[:MAX_STATUS_BYTES], reason)
            return
        self.metrics.gateway_online.labels(site=where.site, gateway=where.gateway).set(
            1 if state == "online" else 0
        )
        reason = str(data.get("reason", ""))[:200]
        change = alerts.gateway_status(where.site, where.gateway, state, reason)
        try:
            with self.ledger.session.begin() as s:
                alerts.apply_changes(s, [change], self.ledger.clock.now())
        except SQLAlchemyError as exc:
            log.error("gateway status not recorded", error=str(exc).splitlines()[0])

    def _dead_letter_once(self, topic: str, payload: bytes, reason: str) -> None:
        """A bad retained message comes again at every start: store it once."""
        self.metrics.events.labels(outcome="dead_letter").inc()
        with self.ledger.session() as s:
            stored = s.scalar(
                select(DeadLetter.id)
                .where(DeadLetter.topic == topic[:400], DeadLetter.payload == payload)
                .limit(1)
            )
        if stored is None:
            self._dead_letter(topic, payload, reason, self.ledger.clock.now())

    def _on_message(self, _c: Client, _u: Any, msg: MQTTMessage) -> None:
        self._inbox.put(msg)  # the network thread only hands over; the worker commits and acks

    def alive(self) -> bool:
        return self.failure is None and self._worker.is_alive()

    def _work(self) -> None:
        """Apply messages in batches; if this thread ever fails, say so loudly and stop:
        `run` then ends the process (systemd restarts it) instead of leaving a zombie that
        receives and never applies."""
        try:
            self._work_loop()
        except BaseException as exc:
            self.failure = exc
            log.critical("ledger ingest worker failed; the ledger stops", exc_info=exc)

    def _work_loop(self) -> None:
        """Apply messages in batches (one transaction each), then acknowledge them in the
        order they arrived. On a database error nothing of the batch is acknowledged and the
        session is resumed, so the broker sends those messages again."""
        while not self._stop.is_set():
            try:
                first = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            outcomes = self.handle_many([(m.topic, bytes(m.payload)) for m in batch])
            for outcome in outcomes:
                self.metrics.events.labels(outcome=outcome).inc()
            if "retry" in outcomes:
                self.counts["db_errors"] += 1
                self._resume_session()
                continue
            for m in batch:
                self.client.ack(m.mid, m.qos)

    def _resume_session(self) -> None:
        """Stop the network loop, forget every received but unacknowledged message, and
        resume the persistent session: the broker sends those messages again."""
        self.client.disconnect()
        self.client.loop_stop()
        while True:
            try:
                self._inbox.get_nowait()
            except queue.Empty:
                break
        self._stop.wait(1.0)
        try:
            self.client.reconnect()
        except OSError as exc:
            log.warning("ledger reconnect failed; retrying in the network loop", error=str(exc))
        self.client.loop_start()

    def handle(self, topic: str, payload: bytes) -> str:
        """'applied', 'duplicate', 'dead_letter' (all to be acknowledged) or 'retry'."""
        return self.handle_many([(topic, payload)])[0]

    def handle_many(self, messages: list[tuple[str, bytes]]) -> list[str]:
        """Validate every message fully before any database work (invalid ones go to the
        dead letters), then apply the valid ones in one transaction. When that transaction
        fails because of what one event holds, the events are applied one by one so only
        the culprit is dead-lettered; a database that is down means 'retry' for all."""
        received = self.ledger.clock.now()
        outcomes = [""] * len(messages)
        good: list[tuple[int, Event]] = []
        for i, (topic, payload) in enumerate(messages):
            try:
                good.append((i, self._parse(topic, payload)))
            except EventSchemaError as exc:
                outcomes[i] = self._dead_letter(topic, payload, str(exc), received)
            except UnknownGatewayError as exc:
                outcomes[i] = self._dead_letter(topic, payload, str(exc), received, exc.alert)
        self._apply(good, messages, outcomes, received)
        return outcomes

    def _parse(self, topic: str, payload: bytes) -> Event:
        event = loads(payload)
        where = topics.parse_gateway_topic(topic)
        if where is None or (where.site, where.gateway, where.kind) != (
            event.site,
            event.gateway,
            event.kind,
        ):
            said = f"{event.site}/{event.gateway}/{event.kind}"
            raise EventSchemaError(
                f"topic {topic[:200]!r} does not match event site/gateway/kind {said}"
            )
        name = f"{event.site}/{event.gateway}"
        if self.gateways and name not in self.gateways:
            raise UnknownGatewayError(name)
        if name not in self._seen_gateways:
            self._seen_gateways.add(name)
            log.info("events from a gateway", site=event.site, gateway=event.gateway)
        return event

    def _apply(
        self,
        good: list[tuple[int, Event]],
        messages: list[tuple[str, bytes]],
        outcomes: list[str],
        received: datetime,
    ) -> None:
        if not good:
            return
        try:
            results = self.ledger.apply_batch([(e, received) for _, e in good])
        except SQLAlchemyError as exc:
            if _transient(exc):
                log.error("ledger database error; messages will be redelivered",
                          error=_first_line(exc))  # fmt: skip
                for i, _ in good:
                    outcomes[i] = "retry"
                return
            failure: Exception = exc
        except Exception as exc:  # what one event holds broke the transaction (or a bug)
            failure = exc
        else:
            self._acknowledge(self.ledger.progress)
            for (i, event), result in zip(good, results, strict=True):
                if result == Outcome.CONFLICT:
                    reason = "event_id was applied before with other content"
                    outcomes[i] = self._dead_letter(*messages[i], reason, received)
                    continue
                outcomes[i] = result
                self.counts[result] += 1
                self.metrics.ingest_latency.observe(
                    max(0.0, received.timestamp() - event.occurred_at_us / 1e6)
                )
                self.metrics.gateway_last_event.labels(site=event.site, gateway=event.gateway).set(
                    received.timestamp()
                )
            return
        if len(good) > 1:  # isolate the culprit: apply the events one by one
            for one in good:
                self._apply([one], messages, outcomes, received)
            return
        i, event = good[0]
        reason = f"cannot be applied: {type(failure).__name__}: {_first_line(failure)}"
        log.error("event cannot be applied", event_id=event.event_id, reason=reason)
        outcomes[i] = self._dead_letter(*messages[i], reason, received)

    def _acknowledge(self, progress: dict[tuple[str, str], SeqProgress]) -> None:
        """Tell each edge what is committed now (retained: an edge that reconnects later
        gets the latest); only then may it forget those events."""
        for (site, gateway), p in progress.items():
            self.client.publish(ack_topic(site, gateway), p.dumps(), qos=1, retain=True)
            self.metrics.committed_seq.labels(site=site, gateway=gateway).set(p.committed)

    def _dead_letter(
        self,
        topic: str,
        payload: bytes,
        reason: str,
        received: datetime,
        alert: alerts.Condition | None = None,
    ) -> str:
        log.warning("event dead-lettered", topic=topic[:200], reason=reason[:400],
                    size=len(payload))  # fmt: skip
        try:
            with self.ledger.session.begin() as s:
                s.add(DeadLetter(topic=topic[:400], payload=payload, reason=reason[:2000],
                                 received_at=received))  # fmt: skip
                if alert is not None:
                    alerts.raise_once(s, alert, received)
        except SQLAlchemyError as exc:
            log.error("dead letter not stored; will be redelivered", error=_first_line(exc))
            return "retry"
        self.counts["dead_letter"] += 1
        return "dead_letter"


class UnknownGatewayError(Exception):
    """Events from a gateway that the central configuration does not list."""

    def __init__(self, name: str) -> None:
        super().__init__(f"gateway {name} is not in the central configuration (gateways:)")
        self.alert = alerts.Condition(
            "unknown_gateway", name, "critical",
            f"events from gateway {name}, which the central configuration does not list,"
            " are refused (kept in the dead letters)",
        )  # fmt: skip


def _transient(exc: SQLAlchemyError) -> bool:
    """A database that is down, restarting or busy (retry later), not a bad event."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:400]


@dataclass
class CommissioningPublisher:
    """The commissioning map for the edges, retained, versioned and incremental: a full
    snapshot on `hwms/v1/<site>/commissioning`, then every change as one cumulative delta
    since that snapshot on `.../commissioning/delta` (also retained, so an edge that
    connects later gets both). A new snapshot replaces a delta grown past `max_delta`
    records or a tenth of the map. Data flows one way: edges never ask."""

    client: Client
    ledger: Ledger
    sites: list[str]
    max_delta: int = 10_000
    snapshot_version: int = -1
    snapshot_size: int = 0
    version: int = -1
    receipts: int = -1  # receipts booked when last checked: a cheap test for "changed"

    def publish(self) -> int:
        receipts = self.ledger.receipt_count()
        if receipts == self.receipts:
            return self.version  # only receiving changes the map (runs every few seconds)
        self.receipts = receipts
        current = self.ledger.commissioning_version()
        if current == self.version:
            return self.version
        if self.snapshot_version >= 0:
            delta = self.ledger.commissioning_map(since=self.snapshot_version)
            if len(delta.records) <= max(self.max_delta, self.snapshot_size // 10):
                self._send(delta)
                self.version = delta.version
                return self.version
        snapshot = self.ledger.commissioning_map()
        self._send(snapshot)
        self.snapshot_version = self.version = snapshot.version
        self.snapshot_size = len(snapshot.records)
        # the old delta no longer applies
        self._send(CommissioningMap(self.version, {}, base_version=self.version))
        return self.version

    def _send(self, data: CommissioningMap) -> None:
        payload = data.dumps()
        topic = topics.commissioning_delta_topic if data.is_delta else topics.commissioning_topic
        for site in self.sites:
            self.client.publish(topic(site), payload, qos=1, retain=True)
        log.info(
            "commissioning map published",
            kind="delta" if data.is_delta else "snapshot",
            version=data.version,
            records=len(data.records),
            sites=self.sites,
        )


def _alert_gauges(metrics: LedgerMetrics, ledger: Ledger) -> None:
    with ledger.session() as s:
        counts = alerts.open_counts(s)
    metrics.open_alerts.clear()
    for (kind, severity), n in counts.items():
        metrics.open_alerts.labels(kind=kind, severity=severity).set(n)


def checkpoint(ingestor: Ingestor, key: Ed25519PrivateKey) -> None:
    """Signs the chains that grew and publishes their checkpoints, retained."""
    from central.audit_checkpoints import make_checkpoints

    with ingestor.ledger.session.begin() as s:
        made = make_checkpoints(s, key, ingestor.ledger.clock.now())
    for cp in made:
        ingestor.client.publish(topics.audit_checkpoint_topic(cp.chain), cp.dumps(), qos=1,
                                retain=True)  # fmt: skip
    if made:
        log.info("audit checkpoints signed", chains=[cp.chain for cp in made])


PRUNE_EVERY_S = 3600.0  # the cold-chain record's retention is applied hourly


def run(cfg: CentralConfig) -> int:
    """`hwms central run`: migrate, ingest until SIGTERM/SIGINT; on a schedule evaluate
    alerts, order replenishments, notify alerts and publish the commissioning map to the
    configured sites when it changed."""
    import signal

    from central import audit_checkpoints, coldchain_report, db, fhir_push
    from central.agv import (
        AgvAdapter,
        LogAgvAdapter,
        Vda5050Adapter,
        confirm_deliveries,
        dispatch_replenishments,
        dispatch_requisitions,
    )
    from central.cluster import Leadership
    from central.notify import AlertSink, MqttAlertSink, Tier, WebhookSink, notify_due

    try:
        pem = cfg.audit.signing_key()
        signing_key = None if pem is None else audit_checkpoints.load_key(pem)
    except (OSError, ValueError) as exc:
        log.error("audit signing key not readable", error=str(exc))
        return 2
    if signing_key is None:
        log.warning("no audit signing key: the chain heads are not checkpointed "
                    "(audit.signing_key_file or audit.signing_key_credential)")  # fmt: skip
    db.upgrade(cfg.db)
    m = cfg.mqtt
    ingestor = Ingestor(
        Ledger(
            db.engine(cfg.db),
            requisitions=cfg.requisitions,
            supply=cfg.supply,
            purchasing=cfg.purchasing,
        ),
        m,
        client_id=m.client_id,
        share_group=m.share_group,
        gateways=frozenset(cfg.gateways),
    ).start()
    if cfg.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(cfg.metrics_port, addr="127.0.0.1", registry=ingestor.metrics.registry)
    adapter: AgvAdapter = LogAgvAdapter()
    if cfg.agv.adapter == "vda5050":
        adapter = Vda5050Adapter(
            ingestor.client,
            interface=cfg.agv.interface,
            manufacturer=cfg.agv.manufacturer,
            serial_number=cfg.agv.serial_number,
        )
    sinks: list[AlertSink] = [MqttAlertSink(ingestor.client)] if cfg.notify.mqtt else []
    if cfg.notify.webhook_url:
        sinks.append(WebhookSink(cfg.notify.webhook_url))
    tiers = [
        Tier(t.after_s, t.name) for t in sorted(cfg.notify.escalation, key=lambda t: t.after_s)
    ]
    failed = ingestor.metrics.notify_failures
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    leader = Leadership(ingestor.ledger.engine)
    commissioning: CommissioningPublisher | None = None
    next_evaluation = next_prune = next_reports = next_push_scan = next_checkpoint = 0.0
    next_proposals = ingestor.ledger.clock.now().timestamp() + cfg.purchasing.propose_every_s
    full_evaluation = True
    ingestor.connected.wait(10.0)
    while True:
        now = ingestor.ledger.clock.now()
        try:
            if not leader.held():
                commissioning = None  # a new leader starts with a fresh snapshot
            else:
                if commissioning is None:
                    commissioning = CommissioningPublisher(
                        ingestor.client, ingestor.ledger, list(cfg.sites)
                    )
                    full_evaluation = True  # a new leader starts with a full alert pass
                if cfg.sites:
                    commissioning.publish()
                if now.timestamp() >= next_evaluation:
                    next_evaluation = now.timestamp() + cfg.evaluate_every_s
                    with ingestor.ledger.session.begin() as s:
                        alerts.evaluate(
                            s, ingestor.ledger.clock.today(), now, cfg.expiry_horizons_days,
                            full=full_evaluation,
                        )  # fmt: skip
                        full_evaluation = False
                        alerts.sync_unknown_gateways(s, frozenset(cfg.gateways), now)
                        alerts.sync_seq_gaps(s, now, cfg.seq_gap_alert_s)
                        dispatch_replenishments(s, adapter, cfg.supply, cfg.agv.adapter, now)
                if now.timestamp() >= next_prune:
                    next_prune = now.timestamp() + PRUNE_EVERY_S
                    kept = timedelta(days=cfg.temperature_retention_days)
                    if gone := ingestor.ledger.prune_temperatures(now - kept):
                        log.info("temperature minutes past retention deleted", rows=gone)
                with ingestor.ledger.session.begin() as s:
                    dispatch_requisitions(s, adapter, cfg.agv.adapter, now)
                    confirm_deliveries(s)
                ingestor.ledger.watch_requisitions()
                ingestor.ledger.match_ship_notices()
                if cfg.fhir.subscriptions:  # resources to the systems that subscribe
                    if now.timestamp() >= next_push_scan:
                        next_push_scan = now.timestamp() + 10.0
                        fhir_push.enqueue(ingestor.ledger, cfg.fhir, now)
                    fhir_push.deliver(ingestor.ledger, cfg.fhir, now)
                if now.timestamp() >= next_reports:  # last month's record of every unit
                    next_reports = now.timestamp() + 3600.0
                    if made_reports := coldchain_report.monthly_reports(
                        ingestor.ledger, ingestor.ledger.clock.today()
                    ):
                        log.info("monthly cold-chain reports kept", reports=made_reports)
                if signing_key is not None and now.timestamp() >= next_checkpoint:
                    next_checkpoint = now.timestamp() + cfg.audit.checkpoint_every_s
                    checkpoint(ingestor, signing_key)
                if now.timestamp() >= next_proposals:
                    next_proposals = now.timestamp() + cfg.purchasing.propose_every_s
                    made = ingestor.ledger.propose_replenishment()
                    log.info("replenishment proposals made", proposals=made)
                with ingestor.ledger.session.begin() as s:
                    notify_due(
                        s, sinks, now=now, renotify_s=cfg.notify.renotify_s, tiers=tiers,
                        on_failure=lambda sink: failed.labels(sink=sink).inc(),
                    )  # fmt: skip
            _alert_gauges(ingestor.metrics, ingestor.ledger)
        except SQLAlchemyError as exc:
            log.error("scheduled ledger work failed", error=str(exc).splitlines()[0])
        if not ingestor.alive():
            break  # logged by the worker; exit non-zero so that systemd restarts the ledger
        if done.wait(cfg.notify_every_s):
            break
    if signing_key is not None and leader.held():
        with contextlib.suppress(SQLAlchemyError):
            checkpoint(ingestor, signing_key)  # the day's last head, signed
    leader.release()
    ingestor.stop()
    log.info("ledger stopped", **dict(ingestor.counts))
    return 0 if ingestor.failure is None else 70
