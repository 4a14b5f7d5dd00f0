"""A smart-cabinet emulator: FEIG or Chafon reader on a pty or TCP, a door, a badge reader.

The reader side is sans-IO (`ReaderModel.handle(frame) -> bytes`) with a thin IO shell
(`CabinetEmulator`) that serves it on a pseudo-terminal (so clients use the real pyserial
`Serial` path) or on `socket://` TCP. The door contact and lock are GPIO-style files
("1" = open/unlocked), the badge reader is a second pty that prints one line per badge:
`<user id>[,<case id>]`.

Scenarios are data: a list of steps such as `{"badge": "nurse-7", "case": "case-1"}`,
`{"door": "open"}`, `{"take": 3}` (or `{"take": 3, "gtin": "0401..."}`), `{"return": 1}`,
`{"door": "close"}`, `{"wait": 0.5}`, `{"at": 30}` (wait until 30 s after the start).
"""

from __future__ import annotations

import contextlib
import os
import pty
import random
import select
import socket
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from readers import cabinet_protocol as cp
from readers.cabinet_protocol import Frame, FrameDecoder, Protocol
from rules.epc import EpcError, decode


@dataclass(slots=True)
class Faults:
    """Switches for tests: how the reader misbehaves."""

    silent: bool = False  # answers nothing (reader hung, cable pulled)
    antenna_error: bool = False
    corrupt_next: int = 0  # corrupt the CRC of the next N responses
    garbage_before: bytes = b""  # noise on the line before each response
    drop_tags: set[bytes] = field(default_factory=set)  # tags this scan misses


@dataclass(slots=True)
class ReaderModel:
    """What the reader answers to each request frame."""

    protocol: Protocol
    address: int = 0
    shelves: dict[int, set[bytes]] = field(default_factory=dict)  # antenna number -> EPCs
    per_frame: int = 8
    faults: Faults = field(default_factory=Faults)
    requests_total: int = 0
    _pending: list[bytes] = field(default_factory=list)

    def handle(self, req: Frame) -> bytes:
        self.requests_total += 1
        if self.faults.silent:
            return b""
        if req.address not in (self.address, 0xFF):
            return b""
        frames = self._feig(req) if self.protocol == Protocol.FEIG else self._chafon(req)
        out = bytearray()
        for f in frames:
            raw = bytearray(cp.encode(self.protocol, f))
            if self.faults.corrupt_next > 0:
                self.faults.corrupt_next -= 1
                raw[-1] ^= 0x5A
            out += self.faults.garbage_before + raw
        return bytes(out)

    def visible(self, antenna_mask: int | None) -> list[bytes]:
        tags: set[bytes] = set()
        for ant, epcs in self.shelves.items():
            if antenna_mask is None or antenna_mask & (1 << (ant - 1)):
                tags |= epcs
        return sorted(tags - self.faults.drop_tags)

    def _reply(self, req: Frame, status: int, data: bytes = b"") -> Frame:
        return Frame(self.address, req.command, status, data)

    def _feig(self, req: Frame) -> list[Frame]:
        if req.command == cp.FEIG_RF_RESET:
            return [self._reply(req, cp.FEIG_OK)]
        if req.command == 0x65:
            return [self._reply(req, cp.FEIG_OK, b"\x03\x10\x00\x00\x00\x00")]
        if req.command != cp.FEIG_INVENTORY or not req.data or req.data[0] != cp.FEIG_SUB_INVENTORY:
            return [self._reply(req, 0x80)]
        mode = req.data[1] if len(req.data) > 1 else 0
        if not mode & cp.FEIG_MORE:
            mask = req.data[2] if mode & cp.FEIG_ANT and len(req.data) > 2 else None
            if self.faults.antenna_error:
                return [self._reply(req, 0x84)]
            self._pending = self.visible(mask)
            if not self._pending:
                return [self._reply(req, cp.FEIG_NO_TRANSPONDER)]
        chunk, self._pending = self._pending[: self.per_frame], self._pending[self.per_frame :]
        status = cp.FEIG_MORE_DATA if self._pending else cp.FEIG_OK
        return [self._reply(req, status, cp.feig_inventory_records(chunk))]

    def _chafon(self, req: Frame) -> list[Frame]:
        if req.command == 0x21:
            return [self._reply(req, 0x00, b"\x03\x10\x08\x03\x4e\x00\x1e\x0a")]
        if req.command != cp.CHAFON_INVENTORY:
            return [self._reply(req, 0xFE)]
        if self.faults.antenna_error:
            return [self._reply(req, cp.CHAFON_ANTENNA_ERROR)]
        tags = self.visible(None)
        chunks = [tags[i : i + self.per_frame] for i in range(0, len(tags), self.per_frame)] or [[]]
        out = []
        for i, chunk in enumerate(chunks):
            status = cp.CHAFON_DONE if i == len(chunks) - 1 else cp.CHAFON_MORE
            out.append(self._reply(req, status, cp.chafon_inventory_records(chunk)))
        return out


def _gtin(epc: bytes) -> str | None:
    try:
        return decode(epc.hex()).gtin
    except EpcError:
        return None


class CabinetEmulator:
    """Serves a `ReaderModel` on a pty (or TCP) plus a door file, a lock file and a badge pty."""

    def __init__(self, model: ReaderModel, workdir: Path, tcp_port: int | None = None) -> None:
        self.model = model
        self.door_path = workdir / "door"
        self.lock_path = workdir / "lock"
        self.door_path.write_text("0")
        self.lock_path.write_text("0")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._reader_fd, reader_slave = pty.openpty()
        self._badge_fd, badge_slave = pty.openpty()
        for fd in (reader_slave, badge_slave):
            tty.setraw(fd)
        self.reader_device = os.ttyname(reader_slave)
        self.badge_device = os.ttyname(badge_slave)
        self._slaves = (reader_slave, badge_slave)
        self._server: socket.socket | None = None
        if tcp_port is not None:
            self._server = socket.create_server(("127.0.0.1", tcp_port))
            self.tcp_port = self._server.getsockname()[1]
        self._threads = [
            threading.Thread(target=self._serve_pty, daemon=True, name="cabinet-emu-pty")
        ]
        if self._server is not None:
            self._threads.append(
                threading.Thread(target=self._serve_tcp, daemon=True, name="cabinet-emu-tcp")
            )

    @property
    def url(self) -> str:
        return self.reader_device

    def start(self) -> CabinetEmulator:
        for t in self._threads:
            t.start()
        return self

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        for fd in (self._reader_fd, self._badge_fd, *self._slaves):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._server is not None:
            self._server.close()

    # --- the physical world ------------------------------------------------------------

    def badge(self, user_id: str, case_id: str | None = None) -> None:
        line = user_id if case_id is None else f"{user_id},{case_id}"
        os.write(self._badge_fd, (line + "\r\n").encode())

    def set_door(self, is_open: bool) -> None:
        self.door_path.write_text("1" if is_open else "0")

    def take(self, count: int, rng: random.Random, gtin: str | None = None) -> list[bytes]:
        """A person takes `count` items (of one product when `gtin` is given)."""
        with self._lock:
            all_tags = [
                (a, t)
                for a, tags in self.model.shelves.items()
                for t in sorted(tags)
                if gtin is None or _gtin(t) == gtin
            ]
            picked = rng.sample(all_tags, min(count, len(all_tags)))
            for ant, tag in picked:
                self.model.shelves[ant].discard(tag)
        return [t for _, t in picked]

    def put(self, tags: list[bytes], antenna: int = 1) -> None:
        with self._lock:
            self.model.shelves.setdefault(antenna, set()).update(tags)

    def run_scenario(
        self, steps: list[dict[str, Any]], seed: int = 1, start_at: float | None = None
    ) -> None:
        """Play the steps; from the wall time `start_at` when given."""
        origin = time.time() if start_at is None else start_at
        rng = random.Random(seed)
        taken: list[bytes] = []
        for step in steps:
            if "badge" in step:
                self.badge(str(step["badge"]), step.get("case"))
            elif "door" in step:
                self.set_door(step["door"] == "open")
            elif "take" in step:
                taken += self.take(int(step["take"]), rng, step.get("gtin"))
            elif "return" in step:
                back, taken = taken[: int(step["return"])], taken[int(step["return"]) :]
                self.put(back)
            elif "wait" in step:
                self._stop.wait(float(step["wait"]))
            elif "at" in step:  # scenario time, seconds from the start
                self._stop.wait(max(0.0, origin + float(step["at"]) - time.time()))
            else:
                raise ValueError(f"unknown scenario step {step!r}")

    # --- serving ------------------------------------------------------------------------

    def _answer(self, decoder: FrameDecoder, data: bytes) -> bytes:
        out = bytearray()
        for frame in decoder.feed(data) if data else decoder.gap():
            with self._lock:
                out += self.model.handle(frame)
        return bytes(out)

    def _serve_pty(self) -> None:
        decoder = FrameDecoder(self.model.protocol, responses=False)
        while not self._stop.is_set():
            ready, _, _ = select.select([self._reader_fd], [], [], 0.05)
            if not ready:
                reply = self._answer(decoder, b"")
                if reply:
                    os.write(self._reader_fd, reply)
                continue
            try:
                data = os.read(self._reader_fd, 4096)
            except OSError:
                return
            reply = self._answer(decoder, data)
            if reply:
                os.write(self._reader_fd, reply)

    def _serve_tcp(self) -> None:
        assert self._server is not None
        self._server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(0.05)
                decoder = FrameDecoder(self.model.protocol, responses=False)
                while not self._stop.is_set():
                    try:
                        data = conn.recv(4096)
                    except TimeoutError:
                        reply = self._answer(decoder, b"")
                        if reply:
                            conn.sendall(reply)
                        continue
                    if not data:
                        break
                    reply = self._answer(decoder, data)
                    if reply:
                        conn.sendall(reply)
