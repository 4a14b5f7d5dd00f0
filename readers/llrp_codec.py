"""LLRP 1.0.1 binary framing, sans-IO, for the reader side (the emulator).

sllurp encodes what a client sends and decodes what a reader sends; the emulator needs the
opposite, so this module builds reader messages (notifications, responses, keepalives,
RO_ACCESS_REPORT) and picks apart client requests. All integers are big-endian; a message
is a 10-byte header (version/type, length of the whole message, message id) and a body of
TLV parameters (u16 type, u16 length incl. header) and TV parameters (1 byte 0x80|type,
fixed-size value).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

VERSION: Final = 1
HEADER: Final = struct.Struct("!HII")
MAX_MESSAGE: Final = 1 << 20  # refuse absurd lengths instead of buffering forever

# message types
GET_READER_CAPABILITIES: Final = 1
GET_READER_CONFIG: Final = 2
SET_READER_CONFIG: Final = 3
CLOSE_CONNECTION_RESPONSE: Final = 4
GET_READER_CAPABILITIES_RESPONSE: Final = 11
GET_READER_CONFIG_RESPONSE: Final = 12
SET_READER_CONFIG_RESPONSE: Final = 13
CLOSE_CONNECTION: Final = 14
ADD_ROSPEC: Final = 20
DELETE_ROSPEC: Final = 21
START_ROSPEC: Final = 22
STOP_ROSPEC: Final = 23
ENABLE_ROSPEC: Final = 24
DISABLE_ROSPEC: Final = 25
DELETE_ACCESSSPEC: Final = 41
RO_ACCESS_REPORT: Final = 61
KEEPALIVE: Final = 62
READER_EVENT_NOTIFICATION: Final = 63
ENABLE_EVENTS_AND_REPORTS: Final = 64
KEEPALIVE_ACK: Final = 72
ERROR_MESSAGE: Final = 100
CUSTOM_MESSAGE: Final = 1023

RESPONSE_TO: Final = {  # request type -> response type (10 more, except the odd ones)
    GET_READER_CAPABILITIES: GET_READER_CAPABILITIES_RESPONSE,
    GET_READER_CONFIG: GET_READER_CONFIG_RESPONSE,
    SET_READER_CONFIG: SET_READER_CONFIG_RESPONSE,
    CLOSE_CONNECTION: CLOSE_CONNECTION_RESPONSE,
    ADD_ROSPEC: 30,
    DELETE_ROSPEC: 31,
    START_ROSPEC: 32,
    STOP_ROSPEC: 33,
    ENABLE_ROSPEC: 34,
    DISABLE_ROSPEC: 35,
    40: 50,
    DELETE_ACCESSSPEC: 51,
    42: 52,
    43: 53,
    44: 54,
}

# parameter types
P_UTC_TIMESTAMP: Final = 128
P_GENERAL_DEVICE_CAPABILITIES: Final = 137
P_LLRP_CAPABILITIES: Final = 142
P_REGULATORY_CAPABILITIES: Final = 143
P_UHF_BAND_CAPABILITIES: Final = 144
P_TRANSMIT_POWER_ENTRY: Final = 145
P_ROSPEC: Final = 177
P_AISPEC: Final = 183
P_KEEPALIVE_SPEC: Final = 220
P_EVENTS_AND_REPORTS: Final = 226
P_RO_REPORT_SPEC: Final = 237
P_TAG_REPORT_CONTENT_SELECTOR: Final = 238
P_TAG_REPORT_DATA: Final = 240
P_EPC_DATA: Final = 241
P_READER_EVENT_NOTIFICATION_DATA: Final = 246
P_ANTENNA_EVENT: Final = 255
P_CONNECTION_ATTEMPT_EVENT: Final = 256
P_LLRP_STATUS: Final = 287
P_C1G2_LLRP_CAPABILITIES: Final = 327
P_RF_MODE_TABLE: Final = 328
P_RF_MODE_ENTRY: Final = 329

# TV parameter value sizes (TV type -> bytes), for walking client messages
TV_SIZES: Final = {
    1: 2, 2: 8, 3: 8, 4: 8, 5: 8, 6: 1, 7: 2, 8: 2, 9: 4, 10: 2,
    11: 2, 12: 2, 13: 12, 14: 2, 15: 2, 16: 4, 17: 2, 18: 4, 19: 2, 20: 2,
}  # fmt: skip

IMPINJ_VENDOR: Final = 25882
IMPINJ_ENABLE_EXTENSIONS: Final = 21
IMPINJ_ENABLE_EXTENSIONS_RESPONSE: Final = 22
IMPINJ_PEAK_RSSI: Final = 57

# connection attempt status
CONNECTION_SUCCESS: Final = 0
CONNECTION_FAILED_CLIENT_EXISTS: Final = 2


class LlrpFrameError(ValueError):
    """A byte stream that cannot be LLRP (bad version, absurd length)."""


@dataclass(frozen=True, slots=True)
class Message:
    type: int
    msg_id: int
    body: bytes
    version: int = VERSION


@dataclass(slots=True)
class MessageReader:
    """Bytes from a socket -> complete messages (two per segment, or split across many)."""

    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out = []
        while len(self._buf) >= HEADER.size:
            ver_type, length, msg_id = HEADER.unpack_from(self._buf)
            version = (ver_type >> 10) & 0x7
            if version not in (1, 2) or not HEADER.size <= length <= MAX_MESSAGE:
                self._buf.clear()
                raise LlrpFrameError(f"not an LLRP header (version {version}, length {length})")
            if len(self._buf) < length:
                break
            body = bytes(self._buf[HEADER.size : length])
            del self._buf[:length]
            out.append(Message(ver_type & 0x3FF, msg_id, body, version))
        return out


# --- building ------------------------------------------------------------------------------


def message(msg_type: int, msg_id: int, body: bytes = b"") -> bytes:
    return HEADER.pack((VERSION << 10) | msg_type, HEADER.size + len(body), msg_id) + body


def tlv(param_type: int, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack("!HH", param_type, 4 + len(payload)) + payload


def tv(param_type: int, value: bytes) -> bytes:
    return bytes((0x80 | param_type,)) + value


def llrp_status(code: int = 0, description: str = "") -> bytes:
    text = description.encode()
    return tlv(P_LLRP_STATUS, struct.pack("!HH", code, len(text)), text)


def response(request: Message, code: int = 0, description: str = "", extra: bytes = b"") -> bytes:
    return message(
        RESPONSE_TO[request.type], request.msg_id, llrp_status(code, description) + extra
    )


def reader_event(t_us: int, *events: bytes) -> bytes:
    body = tlv(
        P_READER_EVENT_NOTIFICATION_DATA, tlv(P_UTC_TIMESTAMP, struct.pack("!Q", t_us)), *events
    )
    return message(READER_EVENT_NOTIFICATION, 0, body)


def connection_attempt(status: int) -> bytes:
    return tlv(P_CONNECTION_ATTEMPT_EVENT, struct.pack("!H", status))


def antenna_event(antenna: int, connected: bool) -> bytes:
    return tlv(P_ANTENNA_EVENT, struct.pack("!BH", 1 if connected else 0, antenna))


def capabilities(
    request: Message,
    *,
    antennas: int,
    power_table_cdbm: list[int],
    manufacturer: int = IMPINJ_VENDOR,
    model: int = 2001002,
    firmware: str = "hwms-emu-1.0",
) -> bytes:
    """A realistic 4-antenna UHF reader: power table, two RF modes, UTC clock."""
    fw = firmware.encode()
    general = tlv(
        P_GENERAL_DEVICE_CAPABILITIES,
        struct.pack("!HHIIH", antennas, 0x4000, manufacturer, model, len(fw)),  # HasUTCClock
        fw,
    )
    llrp_caps = tlv(P_LLRP_CAPABILITIES, struct.pack("!BBHIIIII", 0, 1, 0, 1, 1, 1, 1, 1))
    power = b"".join(
        tlv(P_TRANSMIT_POWER_ENTRY, struct.pack("!Hh", i + 1, v))
        for i, v in enumerate(power_table_cdbm)
    )
    modes = tlv(
        P_RF_MODE_TABLE,
        tlv(
            P_RF_MODE_ENTRY,
            struct.pack("!IBBBBIIIII", 0, 0x80, 0, 0, 1, 640000, 1500, 6250, 6250, 0),
        ),
        tlv(
            P_RF_MODE_ENTRY,
            struct.pack("!IBBBBIIIII", 2, 0x80, 2, 0, 4, 274000, 2000, 20000, 20000, 0),
        ),
    )
    regulatory = tlv(
        P_REGULATORY_CAPABILITIES,
        struct.pack("!HH", 276, 2),
        tlv(P_UHF_BAND_CAPABILITIES, power, modes),
    )
    c1g2 = tlv(P_C1G2_LLRP_CAPABILITIES, struct.pack("!BH", 0, 2))
    return response(request, extra=general + llrp_caps + regulatory + c1g2)


def custom_message(vendor: int, subtype: int, msg_id: int, body: bytes = b"") -> bytes:
    return message(CUSTOM_MESSAGE, msg_id, struct.pack("!IB", vendor, subtype) + body)


def custom_param(vendor: int, subtype: int, payload: bytes) -> bytes:
    return tlv(CUSTOM_MESSAGE, struct.pack("!II", vendor, subtype), payload)


def custom_kind(msg: Message) -> tuple[int, int] | None:
    """(vendor, subtype) of a CUSTOM_MESSAGE."""
    if msg.type != CUSTOM_MESSAGE or len(msg.body) < 5:
        return None
    vendor, subtype = struct.unpack_from("!IB", msg.body)
    return int(vendor), int(subtype)


def keepalive(msg_id: int) -> bytes:
    return message(KEEPALIVE, msg_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class TagReport:
    epc: bytes
    antenna: int
    rssi_dbm: int
    first_seen_us: int
    last_seen_us: int
    seen_count: int = 1
    impinj_rssi_cdbm: int | None = None  # ImpinjPeakRSSI, centi-dBm


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentSelector:
    """Which optional fields a RO_ACCESS_REPORT carries (TagReportContentSelector)."""

    rospec_id: bool = True
    antenna_id: bool = True
    peak_rssi: bool = True
    first_seen: bool = False
    last_seen: bool = True
    seen_count: bool = True

    @classmethod
    def from_bits(cls, bits: int) -> ContentSelector:
        return cls(
            rospec_id=bool(bits & 0x8000),
            antenna_id=bool(bits & 0x1000),
            peak_rssi=bool(bits & 0x0400),
            first_seen=bool(bits & 0x0200),
            last_seen=bool(bits & 0x0100),
            seen_count=bool(bits & 0x0080),
        )


def ro_access_report(
    msg_id: int, tags: list[TagReport], sel: ContentSelector, rospec_id: int
) -> bytes:
    body = bytearray()
    for t in tags:
        if len(t.epc) == 12:
            epc = tv(13, t.epc)
        else:
            epc = tlv(P_EPC_DATA, struct.pack("!H", len(t.epc) * 8), t.epc)
        fields = [epc]
        if sel.rospec_id:
            fields.append(tv(9, struct.pack("!I", rospec_id)))
        if sel.antenna_id:
            fields.append(tv(1, struct.pack("!H", t.antenna)))
        if sel.peak_rssi:
            fields.append(tv(6, struct.pack("!b", max(-128, min(127, t.rssi_dbm)))))
        if sel.first_seen:
            fields.append(tv(2, struct.pack("!Q", t.first_seen_us)))
        if sel.last_seen:
            fields.append(tv(4, struct.pack("!Q", t.last_seen_us)))
        if sel.seen_count:
            fields.append(tv(8, struct.pack("!H", t.seen_count)))
        if t.impinj_rssi_cdbm is not None:
            fields.append(
                custom_param(IMPINJ_VENDOR, IMPINJ_PEAK_RSSI, struct.pack("!h", t.impinj_rssi_cdbm))
            )
        body += tlv(P_TAG_REPORT_DATA, *fields)
    return message(RO_ACCESS_REPORT, msg_id, bytes(body))


# --- reading client requests -------------------------------------------------------------


def params(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each parameter at this level; stops at anything undecodable."""
    pos = 0
    while pos < len(data):
        first = data[pos]
        if first & 0x80:
            ptype = first & 0x7F
            size = TV_SIZES.get(ptype)
            if size is None or pos + 1 + size > len(data):
                return
            yield ptype, data[pos + 1 : pos + 1 + size]
            pos += 1 + size
            continue
        if pos + 4 > len(data):
            return
        ptype, length = struct.unpack_from("!HH", data, pos)
        ptype &= 0x3FF
        if length < 4 or pos + length > len(data):
            return
        yield ptype, data[pos + 4 : pos + length]
        pos += length


def find(data: bytes, path: tuple[int, ...], skip: dict[int, int] | None = None) -> bytes | None:
    """Payload of the parameter at `path` (types, outermost first). `skip` gives the fixed
    field size before sub-parameters for each type on the path."""
    skip = skip or {}
    for ptype, payload in params(data):
        if ptype == path[0]:
            if len(path) == 1:
                return payload
            return find(payload[skip.get(ptype, 0) :], path[1:], skip)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RoSpec:
    rospec_id: int
    antennas: tuple[int, ...]
    report_n: int
    selector: ContentSelector


def parse_add_rospec(body: bytes) -> RoSpec | None:
    spec = find(body, (P_ROSPEC,))
    if spec is None or len(spec) < 6:
        return None
    rospec_id = struct.unpack_from("!I", spec)[0]
    inner = spec[6:]
    antennas: tuple[int, ...] = ()
    ai = find(inner, (P_AISPEC,))
    if ai is not None and len(ai) >= 2:
        n = struct.unpack_from("!H", ai)[0]
        if len(ai) >= 2 + 2 * n:
            antennas = struct.unpack_from(f"!{n}H", ai, 2)
    report_n = 0
    selector = ContentSelector()
    rep = find(inner, (P_RO_REPORT_SPEC,))
    if rep is not None and len(rep) >= 3:
        report_n = struct.unpack_from("!H", rep, 1)[0]
        sel = find(rep[3:], (P_TAG_REPORT_CONTENT_SELECTOR,))
        if sel is not None and len(sel) >= 2:
            selector = ContentSelector.from_bits(struct.unpack_from("!H", sel)[0])
    return RoSpec(rospec_id=rospec_id, antennas=antennas, report_n=report_n, selector=selector)


def parse_hold_reports(body: bytes) -> bool | None:
    """HoldEventsAndReportsUponReconnect from SET_READER_CONFIG's EventsAndReports parameter
    (LLRP 1.1 §17.2.6.10: the flag is the most significant bit); None when absent."""
    par = find(body[1:], (P_EVENTS_AND_REPORTS,))
    if par is None or len(par) < 1:
        return None
    return bool(par[0] & 0x80)


def parse_keepalive_ms(body: bytes) -> int | None:
    """Periodic keepalive interval from SET_READER_CONFIG (skips the ResetToFactoryDefault byte)."""
    spec = find(body[1:], (P_KEEPALIVE_SPEC,))
    if spec is None or len(spec) < 5:
        return None
    trigger, interval = struct.unpack_from("!BI", spec)
    return int(interval) if trigger == 1 else 0
