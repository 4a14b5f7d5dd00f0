"""Sans-IO codecs of two smart-cabinet reader protocols: FEIG ISO-Host and Chafon UHFReader18.

Both frame with a length byte and a CRC-16/MCRF4XX (poly 0x8408 reflected, init 0xFFFF,
sent LSB first). They differ in what the length counts: FEIG's LENGTH counts the whole
frame, Chafon's Len the bytes after itself. FEIG also has "advanced" frames
(0x02, 16-bit ALENGTH) for more than 255 bytes.

`FrameDecoder.feed(bytes)` returns the complete, CRC-valid frames found so far; garbage and
corrupted frames are skipped byte by byte (resynchronisation) and counted. A transport calls
`gap()` after an inter-byte silence: a partial frame cannot complete after it (Chafon's
inter-byte gap inside a frame is under 15 ms), so the decoder rescans what it holds for
frames that noise had hidden and drops the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

# --- CRC-16/MCRF4XX ------------------------------------------------------------------------


def _table() -> tuple[int, ...]:
    out = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        out.append(crc)
    return tuple(out)


_CRC_TABLE: Final = _table()


def crc16_mcrf4xx(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    for b in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ b) & 0xFF]
    return crc


def _with_crc(body: bytes) -> bytes:
    crc = crc16_mcrf4xx(body)
    return body + bytes((crc & 0xFF, crc >> 8))


class Protocol(StrEnum):
    FEIG = "feig"
    CHAFON = "chafon"


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame. `status` is None for host->reader requests."""

    address: int
    command: int
    status: int | None
    data: bytes
    advanced: bool = False


# --- encoding ------------------------------------------------------------------------------


def encode(protocol: Protocol, frame: Frame) -> bytes:
    head = bytes((frame.address, frame.command)) + (
        b"" if frame.status is None else bytes((frame.status,))
    )
    payload = head + frame.data
    if protocol == Protocol.CHAFON:  # Len counts the bytes after itself
        if len(payload) + 2 > 255:
            raise ValueError("Chafon frame too long")
        return _with_crc(bytes((len(payload) + 2,)) + payload)
    if frame.advanced or len(payload) + 3 > 255:
        total = len(payload) + 5
        if total > 0xFFFF:
            raise ValueError("FEIG frame too long")
        return _with_crc(bytes((0x02, total >> 8, total & 0xFF)) + payload)
    return _with_crc(bytes((len(payload) + 3,)) + payload)


# --- decoding ------------------------------------------------------------------------------


@dataclass(slots=True)
class FrameDecoder:
    """Byte stream -> frames, for one protocol and one direction (responses carry STATUS)."""

    protocol: Protocol
    responses: bool = True
    max_buffer: int = 70_000
    expect: tuple[int, int] | None = None  # (address, command) of the awaited answer
    frames_total: int = 0
    crc_errors_total: int = 0
    expected_crc_errors_total: int = 0  # corrupted frames that looked like the awaited answer
    discarded_bytes_total: int = 0
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        out: list[Frame] = []
        while True:
            result = self._next()
            if result is None:
                break
            out.append(result)
        if len(self._buf) > self.max_buffer:  # never grow without bound on a babbling line
            self.discarded_bytes_total += len(self._buf)
            self._buf.clear()
        return out

    def gap(self) -> list[Frame]:
        """Line silence: a buffered partial frame will never complete, so its first byte was
        not a frame start (e.g. noise that looked like a long length). Rescan after it; any
        frame hidden behind the noise is recovered, the rest is dropped."""
        out: list[Frame] = []
        while self._buf:
            self._skip()
            out += self.feed(b"")
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)

    def _min_total(self) -> int:
        """Smallest whole frame: LEN ADR CMD [STATUS] CRC CRC (same for both protocols)."""
        return 6 if self.responses else 5

    def _skip(self) -> None:
        del self._buf[0]
        self.discarded_bytes_total += 1

    def _next(self) -> Frame | None:
        buf = self._buf
        while buf:
            first = buf[0]
            advanced = self.protocol == Protocol.FEIG and first == 0x02
            if advanced:
                if len(buf) < 3:
                    return None
                total = (buf[1] << 8) | buf[2]
                header = 3
            else:
                total = first + 1 if self.protocol == Protocol.CHAFON else first
                header = 1
            if total < self._min_total() + header - 1:
                self._skip()
                continue
            if len(buf) < total:
                return None
            if crc16_mcrf4xx(memoryview(buf)[:total]) != 0:  # residue over data+CRC is 0
                self.crc_errors_total += 1
                if self.expect is not None and (buf[header], buf[header + 1]) == self.expect:
                    self.expected_crc_errors_total += 1
                self._skip()
                continue
            body = bytes(buf[header : total - 2])
            del buf[:total]
            self.frames_total += 1
            if self.responses:
                return Frame(body[0], body[1], body[2], body[3:], advanced)
            return Frame(body[0], body[1], None, body[2:], advanced)
        return None


# --- inventory payloads --------------------------------------------------------------------

FEIG_INVENTORY: Final = 0xB0
FEIG_SUB_INVENTORY: Final = 0x01
FEIG_RF_RESET: Final = 0x69
FEIG_MORE: Final = 0x80
FEIG_ANT: Final = 0x10
FEIG_UHF_EPC: Final = 0x84  # transponder type EPC Class 1 Gen 2
FEIG_OK: Final = 0x00
FEIG_NO_TRANSPONDER: Final = 0x01
FEIG_MORE_DATA: Final = 0x94

CHAFON_INVENTORY: Final = 0x01
CHAFON_DONE: Final = 0x01
CHAFON_TIMEOUT: Final = 0x02
CHAFON_MORE: Final = 0x03
CHAFON_MEMORY_FULL: Final = 0x04
CHAFON_ANTENNA_ERROR: Final = 0xF8


class InventoryFormatError(ValueError):
    """A CRC-valid frame whose inventory payload does not parse."""


def feig_inventory_request(
    address: int, *, more: bool = False, antennas: int | None = None
) -> Frame:
    mode = (FEIG_MORE if more else 0) | (FEIG_ANT if antennas is not None else 0)
    data = bytes((FEIG_SUB_INVENTORY, mode)) + (b"" if antennas is None else bytes((antennas,)))
    return Frame(address, FEIG_INVENTORY, None, data)


def feig_inventory_records(epcs: list[bytes]) -> bytes:
    """DATA-SETS then per tag TR-TYPE IDDT IDD_LEN IDD (UHF reader, ANT mode records)."""
    out = bytearray((len(epcs),))
    for epc in epcs:
        out += bytes((FEIG_UHF_EPC, 0x00, len(epc))) + epc
    return bytes(out)


def parse_feig_inventory(data: bytes) -> list[bytes]:
    if not data:
        raise InventoryFormatError("FEIG inventory reply without DATA-SETS")
    count, pos, out = data[0], 1, []
    for _ in range(count):
        if pos + 3 > len(data):
            raise InventoryFormatError("FEIG inventory record truncated")
        length = data[pos + 2]
        pos += 3
        if pos + length > len(data) or length == 0:
            raise InventoryFormatError("FEIG inventory IDD truncated")
        out.append(data[pos : pos + length])
        pos += length
    if pos != len(data):
        raise InventoryFormatError("FEIG inventory reply has trailing bytes")
    return out


def chafon_inventory_records(epcs: list[bytes]) -> bytes:
    """Num then per tag EPCLen EPC (UHFReader18 reply)."""
    out = bytearray((len(epcs),))
    for epc in epcs:
        out += bytes((len(epc),)) + epc
    return bytes(out)


def parse_chafon_inventory(data: bytes) -> list[bytes]:
    if not data:
        return []
    count, pos, out = data[0], 1, []
    for _ in range(count):
        if pos >= len(data):
            raise InventoryFormatError("Chafon inventory record truncated")
        length = data[pos]
        pos += 1
        if pos + length > len(data) or length == 0:
            raise InventoryFormatError("Chafon EPC truncated")
        out.append(data[pos : pos + length])
        pos += length
    if pos != len(data):
        raise InventoryFormatError("Chafon inventory reply has trailing bytes")
    return out
