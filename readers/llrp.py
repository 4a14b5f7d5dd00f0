"""LLRP RFID portals through sllurp, with the connection supervision sllurp lacks.

sllurp 3.0.5 reconnects after a fixed 60 s and gives up after 5 tries, never times
keepalives, can lose its thread to a malformed frame with the socket left open, and hangs
on a refused session. So hwms owns supervision: a fresh `LLRPReaderClient` per connection
(`reconnect=False`), keepalives requested every `keepalive_s`, silence for `dead_after_s`
(half-open TCP included), a frame announced longer than `max_frame_bytes` or a dead reader
thread means the connection is dead, a jittered
exponential backoff that resets after a healthy session, and configuration plus ROSpec
re-applied on every connect (sllurp deletes and re-adds them). Reader state changes become
`ReaderStatus` observations; tag reports become `TagRead`s. Callbacks run on sllurp's thread
and only hand data to `sink`, which must not block.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sllurp import llrp_proto
from sllurp.llrp import LLRPReaderClient, LLRPReaderConfig, LLRPReaderState
from sllurp.llrp_errors import ReaderConfigurationError

from readers.backoff import Backoff
from rules.observations import Observation, ReaderState, ReaderStatus, TagRead

log = structlog.get_logger(__name__)

IMPINJ_VENDOR = 25882
MAX_CLOCK_SKEW_US = 5_000_000  # beyond this the reader clock is not trusted (unsynced readers)

# Report antenna, RSSI and times: sllurp's default content selector switches them off.
TAG_CONTENT = {
    "EnableROSpecID": True,
    "EnableSpecIndex": False,
    "EnableInventoryParameterSpecID": False,
    "EnableAntennaID": True,
    "EnableChannelIndex": False,
    "EnablePeakRSSI": True,
    "EnableFirstSeenTimestamp": True,
    "EnableLastSeenTimestamp": True,
    "EnableTagSeenCount": True,
    "EnableAccessSpecID": False,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LlrpSettings:
    reader_id: str
    host: str
    port: int = 5084
    antennas: tuple[int, ...] = (1,)
    tx_power_dbm: float | None = None  # None = the reader's maximum
    mode_identifier: int | None = None
    session: int = 2
    tag_population: int = 32
    report_every_n_tags: int = 1
    impinj_search_mode: int | None = None  # only for Impinj readers
    # the reader sends a keepalive every keepalive_s; silence (no keepalive, no report)
    # for dead_after_s is a dead connection: two keepalives missed, plus a margin
    keepalive_s: float = 2.0
    dead_after_s: float = 5.0
    # LLRP's length field allows 4 GiB; real messages stay far below this (a report of a
    # thousand tags is ~40 KB). A longer announced frame drops the connection at once.
    max_frame_bytes: int = 1 << 20
    setup_timeout_s: float = 10.0
    healthy_after_s: float = 60.0
    connect_timeout_s: float = 5.0
    # ask the reader to keep reading and hold its reports while no client is connected
    # (LLRP HoldEventsAndReportsUponReconnect): reads made while the edge restarts survive
    hold_reports: bool = True

    def sllurp_config(self, impinj: bool = False) -> dict[str, Any]:
        """sllurp settings; Impinj options only once the reader is known to be an Impinj one
        (sllurp sends IMPINJ_ENABLE_EXTENSIONS first, and other readers drop the session)."""
        cfg: dict[str, Any] = {
            "antennas": list(self.antennas),
            "report_every_n_tags": self.report_every_n_tags,
            "tag_content_selector": dict(TAG_CONTENT),
            "keepalive_interval": int(self.keepalive_s * 1000),
            "session": self.session,
            "tag_population": self.tag_population,
            "reconnect": False,
            "start_inventory": True,
            "reset_on_connect": True,
        }
        if self.tx_power_dbm is not None:
            cfg["tx_power_dbm"] = float(self.tx_power_dbm)
        if self.mode_identifier is not None:
            cfg["mode_identifier"] = self.mode_identifier
        if impinj and self.impinj_search_mode is not None:
            cfg["impinj_search_mode"] = self.impinj_search_mode
            cfg["impinj_tag_content_selector"] = {
                "EnableRFPhaseAngle": False,
                "EnablePeakRSSI": True,
                "EnableRFDopplerFrequency": False,
            }
        return cfg


def tag_reads(
    reader_id: str,
    tags: list[dict[str, Any]],
    received_us: int,
    clock_offset_us: int | None = None,
) -> list[TagRead]:
    """sllurp tag dicts -> TagReads on the gateway's clock.

    With the reader's clock offset measured at connect (`clock_offset_us`, ours minus the
    reader's): reader timestamps are kept when the clocks agree, else shifted by the offset;
    so reports the reader held while we were away keep their real times. Without it, the
    report's newest read decides: kept when it agrees with ours, else every read of the
    report is shifted so the newest lands at receipt time (EdgeX's origin adjustment).
    """
    stamps = [
        t.get("LastSeenTimestampUTC")
        or t.get("FirstSeenTimestampUTC")
        or t.get("LastSeenTimestampUptime")
        or 0
        for t in tags
    ]
    newest = max(stamps, default=0)
    if clock_offset_us is not None:
        shift = 0 if abs(clock_offset_us) <= MAX_CLOCK_SKEW_US else clock_offset_us
    elif newest and abs(received_us - newest) <= MAX_CLOCK_SKEW_US:
        shift = 0
    else:
        shift = received_us - newest
    out = []
    for tag, ts in zip(tags, stamps, strict=True):
        raw = tag.get("EPC") or tag.get("EPC-96") or b""
        epc = raw.decode("ascii") if isinstance(raw, bytes) else str(raw)
        if "ImpinjPeakRSSI" in tag:
            rssi: float | None = int(tag["ImpinjPeakRSSI"]) / 100.0  # centi-dBm
        elif "PeakRSSI" in tag:
            rssi = float(tag["PeakRSSI"])
        else:
            rssi = None
        out.append(
            TagRead(
                reader=reader_id,
                antenna=int(tag.get("AntennaID", 0)),
                epc_hex=epc.upper(),
                t_us=(ts + shift) if ts else received_us,
                rssi_dbm=rssi,
                seen_count=int(tag.get("TagSeenCount", 1)),
            )
        )
    return out


@dataclass(slots=True)
class LlrpReader:
    """Supervises one LLRP reader in a thread of its own; `start()` / `stop()`."""

    settings: LlrpSettings
    sink: Callable[[Observation], None]
    rng: random.Random = field(default_factory=random.Random)
    clock_us: Callable[[], int] = field(default=lambda: time.time_ns() // 1000)
    watchdog_period_s: float = 0.05
    state: ReaderState = ReaderState.DOWN
    reconnects_total: int = 0
    reads_total: int = 0
    antenna_events_total: int = 0
    antennas_down: set[int] = field(default_factory=set)
    failures_total: Counter[str] = field(default_factory=Counter)
    capabilities: dict[str, Any] = field(default_factory=dict)
    backoff: Backoff = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _last_heard: float = 0.0
    _refused: str = ""
    _lost: threading.Event = field(default_factory=threading.Event)
    _impinj: bool | None = None  # None: vendor not known yet
    _clock_offset_us: int | None = None  # ours minus the reader's, measured at connect

    def __post_init__(self) -> None:
        self.backoff = Backoff(rng=self.rng)

    def start(self) -> LlrpReader:
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"llrp-{self.settings.reader_id}"
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # --- supervision ----------------------------------------------------------------

    def _status(self, state: ReaderState, reason: str = "") -> None:
        self.state = state
        log.info(
            "llrp reader status", reader=self.settings.reader_id, state=state.value, reason=reason
        )
        self.sink(
            ReaderStatus(
                reader=self.settings.reader_id, state=state, t_us=self.clock_us(), reason=reason
            )
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            reason = self._session()
            if self._stop.is_set():
                break
            self._status(ReaderState.DOWN, reason)
            if reason.startswith("reconfigure"):
                # Not a failure: connect again with the new settings, once the reader has
                # had a moment to drop the old session (it accepts one client at a time).
                self._stop.wait(0.5)
                continue
            self.failures_total[reason.split(":")[0]] += 1
            if time.monotonic() - started >= self.settings.healthy_after_s:
                self.backoff.reset()
            delay = self.backoff.next_delay()
            self.reconnects_total += 1
            log.info(
                "llrp reconnect scheduled", reader=self.settings.reader_id, delay_s=round(delay, 3)
            )
            self._stop.wait(delay)
        self._status(ReaderState.DOWN, "stopped")

    def _session(self) -> str:
        """One connection from connect to failure; returns why it ended."""
        s = self.settings
        self._status(ReaderState.CONNECTING)
        self._refused = ""
        self._lost.clear()
        config = LLRPReaderConfig(s.sllurp_config(impinj=bool(self._impinj)))
        client = LLRPReaderClient(s.host, s.port, config, timeout=s.connect_timeout_s)
        self._clock_offset_us = None
        if s.hold_reports:
            _hold_reports_upon_reconnect(client)
        _cap_frames(client, s.max_frame_bytes, self._on_oversize)
        client.add_tag_report_callback(self._on_tags)
        for name in ("KEEPALIVE", "RO_ACCESS_REPORT", "READER_EVENT_NOTIFICATION"):
            client.add_message_callback(name, self._on_message)
        client.add_disconnected_callback(lambda _reader: self._lost.set())
        try:
            client.connect()
        except Exception as exc:  # sllurp raises socket errors and its own config errors
            return f"connect failed: {exc}"
        try:
            return self._supervise(client)
        finally:
            try:
                client.hard_disconnect()
            except Exception as exc:  # a dead client may fail to close; nothing to keep
                log.debug("llrp hard disconnect failed", error=str(exc))

    def _supervise(self, client: LLRPReaderClient) -> str:
        s = self.settings
        self._last_heard = time.monotonic()
        deadline = time.monotonic() + s.setup_timeout_s
        up = False
        while not self._stop.is_set():
            if self._refused:
                return self._refused
            if self._lost.is_set():
                return "connection closed"
            if not client.is_alive():
                return "reader thread died"
            now = time.monotonic()
            if not up:
                if (
                    client.llrp is not None
                    and client.llrp.state == LLRPReaderState.STATE_INVENTORYING
                ):
                    up = True
                    self.capabilities = dict(getattr(client.llrp, "capabilities", {}) or {})
                    problem = self._check_capabilities(
                        list(getattr(client.llrp, "tx_power_table", []))
                    )
                    if problem:
                        return problem
                    self._status(ReaderState.UP)
                elif now > deadline:
                    return f"setup timeout: not inventorying after {s.setup_timeout_s} s"
            elif now - self._last_heard > s.dead_after_s:
                return f"dead connection: no keepalive or report for {s.dead_after_s} s"
            self._stop.wait(self.watchdog_period_s)
        if s.hold_reports:
            return "stopped"  # the ROSpec stays: the reader keeps what it reads for our return
        try:
            client.disconnect(timeout=1)  # sllurp stops and deletes the ROSpec first
        except Exception as exc:  # best effort on shutdown
            log.debug("llrp disconnect failed", error=str(exc))
        return "stopped"

    def _check_capabilities(self, power_table: list[float]) -> str:
        """Validate settings against what the reader reported; '' when all is well."""
        s = self.settings
        table = [p for p in power_table[1:] if p]
        if (
            s.tx_power_dbm is not None
            and table
            and not min(table) - 0.5 <= s.tx_power_dbm <= max(table) + 0.5
        ):
            return (
                f"config error: tx power {s.tx_power_dbm} dBm is outside the reader's power table "
                f"{min(table)}..{max(table)} dBm"
            )
        vendor = self.capabilities.get("GeneralDeviceCapabilities", {}).get(
            "DeviceManufacturerName"
        )
        if s.impinj_search_mode is not None and self._impinj is None:
            self._impinj = vendor == IMPINJ_VENDOR
            if self._impinj:
                return "reconfigure: enabling Impinj extensions"
            log.warning(
                "impinj options ignored: not an Impinj reader", reader=s.reader_id, vendor=vendor
            )
        return ""

    # --- callbacks (sllurp's thread: no blocking) ------------------------------------------

    def _on_oversize(self, announced: int) -> None:
        self._refused = (
            f"frame too large: the reader announced {announced} bytes,"
            f" the limit is {self.settings.max_frame_bytes}"
        )

    def _on_message(self, _reader: object, lmsg: Any) -> None:
        self._last_heard = time.monotonic()
        if lmsg.getName() != "READER_EVENT_NOTIFICATION":
            return
        data = lmsg.msgdict["READER_EVENT_NOTIFICATION"].get("ReaderEventNotificationData", {})
        attempt = data.get("ConnectionAttemptEvent")
        reader_now = data.get("UTCTimestamp", {}).get("Microseconds")
        if attempt is not None and isinstance(reader_now, int) and reader_now > 0:
            self._clock_offset_us = self.clock_us() - reader_now
        if attempt is not None and attempt.get("Status") != "Success":
            status = str(attempt.get("Status"))
            if "connection already exists" in status:
                self._refused = f"reader already has a client ({status})"
            else:
                self._refused = f"session refused: {status}"
        antenna = data.get("AntennaEvent")
        if antenna is not None:
            self.antenna_events_total += 1
            number = int(antenna.get("AntennaID", 0))
            if antenna.get("EventType") == "Connected":
                self.antennas_down.discard(number)
            else:
                self.antennas_down.add(number)
            log.warning(
                "llrp antenna event",
                reader=self.settings.reader_id,
                antenna=number,
                event=str(antenna),
            )

    def _on_tags(self, _reader: object, tags: list[dict[str, Any]]) -> None:
        self._last_heard = time.monotonic()
        reads = tag_reads(self.settings.reader_id, tags, self.clock_us(), self._clock_offset_us)
        self.reads_total += len(reads)
        for read in reads:
            self.sink(read)


def _cap_frames(
    client: LLRPReaderClient, max_bytes: int, on_oversize: Callable[[int], None]
) -> None:
    """Refuse frames announced longer than `max_bytes`. sllurp would buffer such a frame
    without limit, concatenating every 4 KiB received (a core busy and hundreds of MB held
    for as long as the reader keeps sending); here at most one read is buffered and the
    connection is closed (sllurp closes it on a ReaderConfigurationError)."""
    receive = client.raw_data_received

    def capped(data: bytes) -> None:
        receive(data)
        if client.expected_bytes > max_bytes:
            on_oversize(client.expected_bytes)
            client.partial_data = b""
            raise ReaderConfigurationError(f"LLRP frame of {client.expected_bytes} bytes")

    client.raw_data_received = capped


def _encode_events_and_reports(par: dict[str, Any], _info: Any) -> bytes:
    """LLRP 1.1 §17.2.6.10 EventsAndReports: one byte, the hold flag in its top bit."""
    return b"\x80" if par.get("HoldEventsAndReportsUponReconnect") else b"\x00"


# sllurp 3.0.5 decodes this parameter but cannot encode it
llrp_proto.Param_struct["EventsAndReports"].setdefault("encode", _encode_events_and_reports)


def _hold_reports_upon_reconnect(client: LLRPReaderClient) -> None:
    """Add EventsAndReports (hold) to the SET_READER_CONFIG sllurp sends at every connect;
    sllurp also sends ENABLE_EVENTS_AND_REPORTS at connect, which releases what was held."""
    protocol = client.llrp
    send = protocol.sendMessage

    def send_with_hold(msg: dict[str, Any]) -> Any:
        if "SET_READER_CONFIG" in msg:
            msg["SET_READER_CONFIG"]["EventsAndReports"] = {
                "HoldEventsAndReportsUponReconnect": True
            }
        return send(msg)

    protocol.sendMessage = send_with_hold
