"""The edge daemon: readers -> rules -> durable outbox -> MQTT, for one site's gateway.

Threads, each with one job:
- reader threads (one per LLRP reader) and scheduler jobs (cabinet polls, Modbus polls)
  put observations on one queue and never touch the rules;
- the rules thread owns `GatewayRules`: it feeds observations, ticks time, and commits the
  resulting events to the outbox (the commit point) in batches, together with the sequence
  number; it also applies commands and commissioning updates, so the rules need no locks;
- the publisher thread sends outbox rows to MQTT and deletes them on PUBACK;
- the scheduler runs housekeeping, status heartbeats and rules-state snapshots;
- the watchdog thread pings systemd only while every other thread shows a fresh heartbeat.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import start_http_server

from edge import sdnotify
from edge.config import CabinetReaderConfig, EdgeConfig
from edge.metrics import EdgeMetrics
from edge.outbox import NewRow, Outbox
from edge.publisher import Publisher
from readers.cabinet import (
    BadgeSource,
    CabinetController,
    CabinetReaderClient,
    DoorSensor,
    FileLineBadgeReader,
    GpioFile,
    LineBadgeReader,
    Lock,
    MqttDoorLock,
)
from readers.llrp import LlrpReader, LlrpSettings
from readers.modbus import ModbusPoller, ModbusSensor
from readers.modbus_profiles import PROFILES
from rules import events as ev
from rules import topics
from rules.commissioning import CommissioningMap, CommissioningState
from rules.events import AlarmState, Event
from rules.gateway import GatewayRules
from rules.identity import CommissionRecord
from rules.observations import CabinetScan, Observation, ReaderState, ReaderStatus, TagRead
from rules.observations import from_json as observation_from_json
from rules.observations import to_json as observation_to_json

log = structlog.get_logger(__name__)
VERSION = "0.1.0"


def now_us() -> int:
    return time.time_ns() // 1000


MAX_COMMISSIONING_BYTES = 256 * 1024 * 1024  # a map of millions of tags, not more
JOURNAL_MAX = 200_000  # journal entries past which a snapshot is taken even mid-pass


class _NoBadges:
    def read_badges(self) -> list[tuple[str, str | None]]:
        return []


@dataclass(slots=True)
class _Command:
    topic: str
    payload: bytes


class EdgeDaemon:
    def __init__(self, cfg: EdgeConfig) -> None:
        self.cfg = cfg
        self.metrics = EdgeMetrics()
        self.metrics.info.info({"version": VERSION, "site": cfg.site, "gateway": cfg.gateway})
        self.outbox = Outbox(
            cfg.outbox.path,
            max_rows=cfg.outbox.max_rows,
            max_telemetry_age_s=cfg.outbox.max_telemetry_age_s,
        )
        self.metrics.watch_outbox(self.outbox)
        self.commissioning_topic = topics.commissioning_topic(cfg.site)
        self.delta_topic = topics.commissioning_delta_topic(cfg.site)
        self.command_prefix = topics.command_topic(cfg.site, cfg.gateway, "")
        self.commissioning = CommissioningState()
        self.rules = GatewayRules(cfg.rules_config(), self._load_commissioning())
        self._restore_rules()
        self.observations: queue.Queue[Observation] = queue.Queue(maxsize=200_000)
        self.commands: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        self.publisher = Publisher(
            cfg.mqtt,
            client_id=cfg.client_id,
            outbox=self.outbox,
            site=cfg.site,
            gateway=cfg.gateway,
            subscriptions=[
                topics.command_topic(cfg.site, cfg.gateway),
                self.commissioning_topic,
                self.delta_topic,
            ],
            on_message=lambda topic, payload: self.commands.put(_Command(topic, payload)),
            metrics=self.metrics,
        )
        self.llrp = [
            LlrpReader(
                LlrpSettings(
                    reader_id=r.id,
                    host=r.host,
                    port=r.port,
                    antennas=tuple(r.antennas),
                    tx_power_dbm=r.tx_power_dbm,
                    mode_identifier=r.mode_identifier,
                    session=r.session,
                    impinj_search_mode=r.impinj_search_mode,
                    keepalive_s=r.keepalive_s,
                    dead_after_s=r.dead_after_s,
                    max_frame_bytes=r.max_frame_bytes,
                    hold_reports=r.hold_reports,
                ),
                self._put,
            )
            for r in cfg.readers.llrp
        ]
        self._llrp_ids = {r.id for r in cfg.readers.llrp}
        self._antenna_labels = {(r.id, a): str(a) for r in cfg.readers.llrp for a in r.antennas}
        self.cabinets = {c.id: self._cabinet(c) for c in cfg.readers.cabinets}
        self.modbus = [
            (
                b,
                ModbusPoller(
                    name=b.id,
                    url=b.url,
                    timeout_s=b.timeout_s,
                    retries=b.retries,
                    sensors=tuple(
                        ModbusSensor(
                            sensor=s.id,
                            device_id=s.device_id,
                            profile=PROFILES[s.profile],
                            channels=(s.channel,),
                        )
                        for s in b.sensors
                    ),
                ),
            )
            for b in cfg.readers.modbus
        ]
        self.scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            timezone="UTC",
        )
        self._stop = threading.Event()
        self._devices_stop = threading.Event()
        self._device_threads: list[threading.Thread] = []
        self._cabinet_failure: dict[str, tuple[str, str]] = {}  # name -> (source, reason)
        self._rules_thread = threading.Thread(target=self._rules_loop, daemon=True, name="rules")
        self._watchdog_thread = threading.Thread(
            target=self._watchdog, daemon=True, name="watchdog"
        )
        self.rules_heartbeat = time.monotonic()
        self._pending: list[NewRow] = []
        self._pending_ids: set[str] = set()
        self._journal: list[bytes] = []  # fed to the rules, not committed yet
        self._journaled = 0  # journal entries committed since the last snapshot
        self._reader_errors_seen: dict[str, int] = {}

    # --- construction helpers --------------------------------------------------------

    def _cabinet(self, c: CabinetReaderConfig) -> CabinetController:
        reader = CabinetReaderClient(
            url=c.url,
            protocol=c.protocol,
            address=c.address,
            shelves=tuple(c.shelves),
            cabinet=c.id,
        )
        door: DoorSensor
        lock: Lock
        if c.door_mqtt_topic:
            mqtt_io = MqttDoorLock(
                self.cfg.mqtt,
                door_topic=c.door_mqtt_topic,
                lock_topic=c.lock_mqtt_topic or f"{c.door_mqtt_topic}/lock",
                client_id=f"{self.cfg.client_id}-{c.id}-io",
            )
            door = lock = mqtt_io
        else:
            assert c.door_gpio_file is not None
            door = GpioFile(c.door_gpio_file)
            lock = (
                GpioFile(c.lock_gpio_file)
                if c.lock_gpio_file
                else GpioFile(c.door_gpio_file.with_name("lock"))
            )
        badges: BadgeSource
        if c.badge_serial:
            badges = LineBadgeReader(c.badge_serial)
        elif c.badge_fifo:
            badges = FileLineBadgeReader(c.badge_fifo)
        else:
            badges = _NoBadges()
        return CabinetController(
            name=c.id,
            reader=reader,
            door=door,
            lock=lock,
            badges=badges,
            scans_after_close=c.scans_after_close,
        )

    def _load_commissioning(self) -> dict[str, CommissionRecord]:
        raw = self.outbox.get_state("commissioning")
        if raw is None:
            return {}
        self.commissioning = CommissioningState.from_json(json.loads(raw))
        return self._commission_records()

    def _commission_records(self) -> dict[str, CommissionRecord]:
        return {uri: CommissionRecord(**r) for uri, r in self.commissioning.records.items()}

    def _restore_rules(self) -> None:
        raw = self.outbox.get_state("rules")
        if raw is not None:
            self.rules.restore(json.loads(raw))
        seq = self.outbox.get_state("seq")
        # the last number given to an event at the commit point (never given again)
        self.seq = max(self.rules.seq, int(seq) if seq is not None else 0)
        log.info("rules state restored", present=len(self.rules.areas.present()), seq=self.seq)

    # --- lifecycle -------------------------------------------------------------------

    def _replay_journal(self) -> None:
        """What the rules were fed after the last snapshot, fed again: open passes and
        everything else in flight come back as they were when the process ended, and the
        events they make are those of an uninterrupted run (the outbox drops the ones it
        already holds)."""
        raw = self.outbox.get_state("journal_position")
        position = int(raw) if raw is not None else 0
        fed = events = 0
        while batch := self.outbox.journal_after(position):
            for _, entry in batch:
                out = self._feed_entry(json.loads(entry))
                fed += 1
                events += len(out)
                self._stage(out)
            self._commit()
            position = batch[-1][0]
        if fed:
            log.info("journal replayed", entries=fed, events=events, seq=self.seq)

    def _feed_entry(self, entry: dict[str, Any]) -> list[Event]:
        if "tick" in entry:
            return self.rules.tick(int(entry["tick"]))
        return self.rules.feed(observation_from_json(entry["obs"]))

    def start(self) -> None:
        self._replay_journal()
        if self.cfg.metrics.port:
            start_http_server(
                self.cfg.metrics.port, addr=self.cfg.metrics.host, registry=self.metrics.registry
            )
        self.publisher.start()
        self._rules_thread.start()
        for reader in self.llrp:
            reader.start()
        # Device polls run in threads of their own, each one poll after the other: a slow
        # or failing device only slows itself (an interval job that overran would log a
        # "skipped" warning at every tick, hundreds a minute).
        for c in self.cfg.readers.cabinets:
            self._every(
                f"cabinet-{c.id}", c.poll_interval_s, self._poll_cabinet, self.cabinets[c.id]
            )
        for bus, poller in self.modbus:
            self._every(f"modbus-{bus.id}", bus.interval_s, self._poll_modbus, poller)
        self.scheduler.add_job(
            self._housekeeping, "interval", id="housekeeping", seconds=30, next_run_time=_soon()
        )
        self.scheduler.add_job(
            self._heartbeat_status, "interval", id="status", seconds=60, next_run_time=_soon()
        )
        self.scheduler.start()
        self._watchdog_thread.start()
        sdnotify.notify("READY=1\nSTATUS=running")
        log.info(
            "edge daemon started", site=self.cfg.site, gateway=self.cfg.gateway, version=VERSION
        )

    def stop(self, drain_s: float = 10.0) -> None:
        """Orderly stop: readers, final rules flush and commit, drain to MQTT, offline."""
        sdnotify.notify("STOPPING=1")
        log.info("edge daemon stopping")
        for reader in self.llrp:
            reader.stop(timeout=3)
        self._devices_stop.set()
        for thread in self._device_threads:
            thread.join(timeout=10)
        self.scheduler.shutdown(wait=True)
        self._stop.set()
        self._rules_thread.join(timeout=10)
        self._stage(self.rules.flush(now_us()))
        self._commit()
        self._save_snapshot()
        drained = self.publisher.drain(drain_s)
        self.publisher.stop("stopped")
        for cab in self.cabinets.values():
            cab.reader.close()
            if isinstance(cab.door, MqttDoorLock):
                cab.door.close()
        for _, poller in self.modbus:
            poller.close()
        log.info("edge daemon stopped", outbox_left=self.outbox.depth(), drained=drained)
        self.outbox.close()

    # --- inputs ------------------------------------------------------------------------

    def _put(self, obs: Observation) -> None:
        try:
            self.observations.put_nowait(obs)
        except queue.Full:  # the rules thread is stuck; losing reads beats blocking readers
            log.error("observation queue full; dropping", kind=type(obs).__name__)

    def _every(self, name: str, interval_s: float, poll: Callable[[Any], None], arg: Any) -> None:
        def loop() -> None:
            next_at = time.monotonic()
            while not self._devices_stop.wait(max(0.0, next_at - time.monotonic())):
                poll(arg)
                next_at = max(next_at + interval_s, time.monotonic())

        thread = threading.Thread(target=loop, daemon=True, name=name)
        self._device_threads.append(thread)
        thread.start()

    def _poll_cabinet(self, cab: CabinetController) -> None:
        before = cab.reader.decoder.crc_errors_total
        try:
            observations = cab.poll(now_us())
        except Exception as exc:  # door, lock or badge I/O failed: the next poll tries again
            self.metrics.cabinet_poll_errors.labels(
                cabinet=cab.name, error=type(exc).__name__
            ).inc()
            self._cabinet_health(cab.name, "poll", f"{type(exc).__name__}: {exc}")
            return
        self._cabinet_health(cab.name, "poll", "")
        for obs in observations:
            if isinstance(obs, CabinetScan):
                self.metrics.cabinet_scans.labels(
                    cabinet=cab.name, result="ok" if obs.ok else "failed"
                ).inc()
                self._cabinet_health(cab.name, "scan", "" if obs.ok else obs.error)
            self._put(obs)
        errors = cab.reader.decoder.crc_errors_total - before
        if errors:
            self.metrics.frame_errors.labels(cabinet=cab.name).inc(errors)

    def _cabinet_health(self, name: str, source: str, problem: str) -> None:
        """One log line when a cabinet starts failing and one when it recovers, not one per
        poll; `source` (poll or scan) keeps a poll that works from hiding a failing scan."""
        failing = self._cabinet_failure.get(name)
        if problem and failing is None:
            self._cabinet_failure[name] = (source, problem)
            self.metrics.cabinet_up.labels(cabinet=name).set(0)
            log.warning("cabinet failing", cabinet=name, source=source, reason=problem)
        elif not problem and failing is not None and failing[0] == source:
            del self._cabinet_failure[name]
            self.metrics.cabinet_up.labels(cabinet=name).set(1)
            log.info("cabinet recovered", cabinet=name, source=source, was=failing[1])
        elif not problem and failing is None:
            self.metrics.cabinet_up.labels(cabinet=name).set(1)

    def _poll_modbus(self, poller: ModbusPoller) -> None:
        for reading in poller.poll():
            if reading.fault:
                self.metrics.modbus_errors.labels(sensor=reading.sensor, kind=reading.fault).inc()
            elif reading.kind == "temperature" and reading.value is not None:
                self.metrics.temperature.labels(sensor=reading.sensor).set(reading.value)
                self.metrics.sample_time.labels(sensor=reading.sensor).set(reading.t_us / 1e6)
            if reading.kind == "temperature":
                self._put(reading.to_temperature_sample())

    # --- the rules thread -------------------------------------------------------------------

    def _rules_loop(self) -> None:
        tick_us = int(self.cfg.tick_s * 1_000_000)
        next_tick = now_us()
        next_snapshot = time.monotonic() + self.cfg.snapshot_interval_s
        first_pending = 0.0
        # readers whose held reads (made while the edge was away) may still come: a tick
        # now would close the passes they continue; each one's UP status follows its held
        # reports through the same queue
        catching_up = set(self._llrp_ids)
        catch_up_until = time.monotonic() + self.cfg.catch_up_s
        while not self._stop.is_set():
            self.rules_heartbeat = time.monotonic()
            timeout = max(0.0, min((next_tick - now_us()) / 1e6, 0.05))
            try:
                obs: Observation | None = self.observations.get(timeout=timeout)
            except queue.Empty:
                obs = None
            out: list[Event] = []
            if not self._pending and not self._journal:
                first_pending = time.monotonic()
            if obs is not None:
                self._observe_metrics(obs)
                self._journal.append(json.dumps({"obs": observation_to_json(obs)}).encode())
                out += self.rules.feed(obs)
                if isinstance(obs, ReaderStatus) and obs.state == ReaderState.UP:
                    catching_up.discard(obs.reader)
            now = now_us()
            if catching_up and time.monotonic() >= catch_up_until:
                log.warning("readers not up; time-driven rules go on", readers=sorted(catching_up))
                catching_up.clear()
            if now >= next_tick and not catching_up:
                self._journal.append(b'{"tick": %d}' % now)
                out += self.rules.tick(now)
                next_tick = now + tick_us
                self._apply_commands()
            if out:
                self._stage(out)
            if (self._pending or self._journal) and (
                len(self._pending) >= self.cfg.outbox.commit_batch
                or time.monotonic() - first_pending > 0.02
            ):
                self._commit()
            if time.monotonic() >= next_snapshot:
                # only when nothing is in flight, so snapshot + journal rebuild it exactly
                # (a portal that never pauses still gets one past `journal_max`)
                if self.rules.quiescent() or len(self._journal) + self._journaled > JOURNAL_MAX:
                    self._save_snapshot()
                    next_snapshot = time.monotonic() + self.cfg.snapshot_interval_s
                else:
                    next_snapshot = time.monotonic() + 0.5

    def _observe_metrics(self, obs: Observation) -> None:
        if isinstance(obs, TagRead):
            label = self._antenna_labels.get((obs.reader, obs.antenna), "other")
            self.metrics.reads.labels(reader=obs.reader, antenna=label).inc()
        elif isinstance(obs, ReaderStatus) and obs.reader in self._llrp_ids:
            self.metrics.reader_up.labels(reader=obs.reader).set(
                1 if obs.state == ReaderState.UP else 0
            )
            if obs.state == ReaderState.CONNECTING:
                self.metrics.reader_reconnects.labels(reader=obs.reader).inc()

    def _stage(self, events: list[Event]) -> None:
        """Queue events for the commit point, numbered here: an event the outbox already
        holds (the rules re-emit what an older snapshot had not seen) is skipped and uses
        no number, so the ledger sees no hole; a number is never given twice."""
        known = self.outbox.existing([e.event_id for e in events]) | self._pending_ids
        for emitted in events:
            if emitted.event_id in known:
                self.metrics.events_repeated.inc()
                continue
            known.add(emitted.event_id)
            self._pending_ids.add(emitted.event_id)
            self.seq += 1
            e = dataclasses.replace(emitted, seq=self.seq)
            self.metrics.events.labels(kind=e.kind).inc()
            self._pending.append(
                NewRow(
                    event_id=e.event_id,
                    kind=e.kind,
                    topic=topics.event_topic(self.cfg.site, self.cfg.gateway, e.kind),
                    payload=ev.dumps(e),
                    created_us=now_us(),
                    seq=e.seq if self.cfg.mqtt.delete_on == "ledger_ack" else None,
                )
            )
            if isinstance(e, ev.ReaderStatusEvent):
                self.publisher.publish_retained(
                    topics.reader_status_topic(self.cfg.site, self.cfg.gateway, e.reader),
                    {"state": e.state, "reason": e.reason, "at": e.occurred_at_us},
                )
            elif isinstance(e, ev.ColdChainTransition):
                self.metrics.coldchain_active.labels(unit=e.unit, condition=e.condition).set(
                    1 if e.to_state == AlarmState.ACTIVE else 0
                )

    def _commit(self) -> None:
        """The commit point: staged events, the sequence number and what the rules were fed
        (the journal), in one transaction."""
        if not self._pending and not self._journal:
            return
        state = {"seq": str(self.seq).encode()} if self._pending else None
        self.outbox.append(self._pending, state, self._journal)
        self._journaled += len(self._journal)
        self._journal = []
        if self._pending:
            self._pending = []
            self._pending_ids.clear()
            self.publisher.wakeup.set()

    def _save_snapshot(self) -> None:
        """The rules state as of every journal entry so far; those entries are forgotten."""
        self._commit()
        end = self.outbox.journal_end()
        self.outbox.checkpoint(
            {"rules": json.dumps(self.rules.snapshot()).encode(),
             "journal_position": str(end).encode()},
            upto=end,
        )  # fmt: skip
        self._journaled = 0

    # --- commands and commissioning (applied on the rules thread) --------------------------

    def _apply_commands(self) -> None:
        while True:
            try:
                cmd = self.commands.get_nowait()
            except queue.Empty:
                return
            try:
                self._command(cmd)
            except Exception as exc:  # a bad message must never end the rules thread
                self.metrics.commands_rejected.labels(reason=type(exc).__name__).inc()
                log.warning(
                    "bad command or commissioning message ignored",
                    topic=cmd.topic[:200],
                    error=f"{type(exc).__name__}: {str(exc)[:300]}",
                )

    def _command(self, cmd: _Command) -> None:
        if cmd.topic in (self.commissioning_topic, self.delta_topic):
            if len(cmd.payload) > MAX_COMMISSIONING_BYTES:
                raise ValueError(f"commissioning message of {len(cmd.payload)} bytes")
            data = CommissioningMap.from_json(json.loads(cmd.payload))
            state = self.commissioning
            if cmd.topic == self.commissioning_topic:
                version = data.version
                if version < state.snapshot_version:
                    self.metrics.commands_rejected.labels(reason="stale_version").inc()
                    log.warning(
                        "commissioning snapshot older than the map in use ignored; if the"
                        " ledger's database was rebuilt, clear the edge's state",
                        version=version,
                        in_use=state.snapshot_version,
                    )
                    return
            changed = (
                state.snapshot(data) if cmd.topic == self.commissioning_topic else state.delta(data)
            )
            if changed:
                self.rules.set_commissioning(self._commission_records())
                self.outbox.put_state("commissioning", json.dumps(state.to_json()).encode())
                log.info(
                    "commissioning map updated", version=state.version, records=len(state.records)
                )
            return
        action = cmd.topic.removeprefix(self.command_prefix)
        if action == "reload-commissioning":
            topics = [self.commissioning_topic, self.delta_topic]
            self.publisher.client.unsubscribe(topics)
            self.publisher.client.subscribe([(t, 1) for t in topics])  # the retained maps again
        elif action.startswith("cabinet/") and action.endswith("/unlock"):
            name = action.split("/")[1]
            cab = self.cabinets.get(name)
            if cab is None:
                raise KeyError(f"unknown cabinet {name!r}")
            cab.request_unlock()
            log.info("cabinet unlocked by command", cabinet=name)
        else:
            raise ValueError(f"unknown command {action!r}")

    # --- housekeeping, status, watchdog -------------------------------------------------

    def _housekeeping(self) -> None:
        dropped = self.outbox.enforce_limits(now_us())
        if dropped:
            self.metrics.outbox_dropped.labels(**{"class": "telemetry"}).inc(dropped)
        self._update_outbox_metrics()

    def _update_outbox_metrics(self) -> None:
        oldest = self.outbox.oldest_created_us()
        self.metrics.outbox_oldest_age.set(
            0 if oldest is None else max(0.0, (now_us() - oldest) / 1e6)
        )
        _n, _first, created = self.outbox.unacknowledged()
        self.metrics.unacknowledged_age.set(
            0 if created is None else max(0.0, (now_us() - created) / 1e6)
        )
        if self.cfg.mqtt.delete_on == "ledger_ack":
            acked = self.publisher.ledger_progress.committed
            self.metrics.ack_gap.set(max(0, self.seq - acked))
        self.metrics.present_tags.set(len(self.rules.areas.present()))

    def _heartbeat_status(self) -> None:
        self._update_outbox_metrics()
        self.publisher.publish_retained(
            topics.status_topic(self.cfg.site, self.cfg.gateway),
            {
                "state": "online",
                "at": time.time(),
                "version": VERSION,
                "outbox_depth": self.outbox.depth(),
                "readers": {r.settings.reader_id: r.state.value for r in self.llrp},
            },
        )

    def _watchdog(self) -> None:
        interval = sdnotify.watchdog_interval_s() or 5.0
        while not self._stop.wait(interval):
            now = time.monotonic()
            beats = {"rules": self.rules_heartbeat, "publisher": self.publisher.heartbeat}
            for name, beat in beats.items():
                self.metrics.heartbeat.labels(thread=name).set(time.time() - (now - beat))
            stale = [name for name, beat in beats.items() if now - beat > max(10.0, 3 * interval)]
            if stale:
                log.error("daemon threads stalled; not feeding the systemd watchdog", threads=stale)
                continue
            sdnotify.notify("WATCHDOG=1")


def _soon() -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(seconds=0.5)


def run(config_path: Path) -> int:
    """`hwms edge run`: start, wait for SIGTERM/SIGINT, stop cleanly within a bound."""
    import signal

    from edge.config import load
    from hwms_common.logs import configure

    cfg = load(config_path)
    configure(cfg.log_level, None if cfg.log_format == "auto" else cfg.log_format == "json")
    daemon = EdgeDaemon(cfg)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    daemon.start()
    done.wait()
    daemon.stop(drain_s=10.0)
    return 0
