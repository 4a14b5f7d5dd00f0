"""RFID label printers (Zebra ZPL II and compatibles) on raw TCP port 9100: the client that
sends a job, the job splitter (sans-IO, fed bytes), and an emulator that records what it
was sent and which EPC each label would have written, for tests and the demo.

Raw 9100 has no reply: a job is delivered when the printer took all its bytes; what it
then did (a void RFID inlay, paper out) is on the printer's own status, not here."""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass, field
from typing import Final

PORT: Final = 9100
MAX_JOB: Final = 1 << 20  # a label is a few hundred bytes; anything this long is not one
_RFW: Final = re.compile(r"\^RFW,H[^\^]*\^FD([0-9A-Fa-f]+)\^FS")
_BX: Final = re.compile(r"\^BX[^\^]*\^FD(.*?)\^FS", re.S)


class PrinterError(OSError):
    """The printer could not be reached or did not take the whole job."""


def send_zpl(host: str, port: int, zpl: str, *, timeout: float = 5.0) -> None:
    """Send one job; raises PrinterError naming the printer when it fails."""
    data = zpl.encode("utf-8")
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
    except OSError as exc:
        raise PrinterError(f"label printer {host}:{port}: {exc.strerror or exc}") from None


@dataclass
class ZplJobs:
    """Bytes in, complete `^XA ... ^XZ` jobs out, across any split of the stream."""

    buffer: str = ""
    dropped: int = 0  # bytes that were no job (noise, or a job too long)

    def feed(self, data: bytes) -> list[str]:
        self.buffer += data.decode("utf-8", errors="replace")
        jobs: list[str] = []
        while True:
            start = self.buffer.find("^XA")
            if start < 0:
                keep = self.buffer[-2:]  # a '^X' split across two reads
                self.dropped += len(self.buffer) - len(keep)
                self.buffer = keep
                return jobs
            end = self.buffer.find("^XZ", start)
            if end < 0:
                if len(self.buffer) - start > MAX_JOB:
                    self.dropped += len(self.buffer)
                    self.buffer = ""
                else:
                    self.dropped += start
                    self.buffer = self.buffer[start:]
                return jobs
            jobs.append(self.buffer[start : end + 3])
            self.dropped += start
            self.buffer = self.buffer[end + 3 :]


@dataclass(frozen=True, slots=True)
class PrintedLabel:
    zpl: str
    epc_hex: str | None  # what `^RFW` wrote to the tag
    datamatrix: str | None  # the ^BX field data (with ZPL's `_1` FNC1 escapes)

    @classmethod
    def of(cls, job: str) -> PrintedLabel:
        rfw, bx = _RFW.search(job), _BX.search(job)
        return cls(job, rfw[1].upper() if rfw else None, bx[1] if bx else None)


@dataclass
class LabelPrinterEmulator:
    """A raw-9100 printer on loopback that keeps every label it was sent."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port, read `port` after start()
    labels: list[PrintedLabel] = field(default_factory=list)
    _server: socket.socket | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> LabelPrinterEmulator:
        server = socket.create_server((self.host, self.port))
        server.settimeout(0.2)
        self._server, self.port = server, server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="label-printer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._server is not None:
            self._server.close()

    def printed(self) -> list[PrintedLabel]:
        with self._lock:
            return list(self.labels)

    def _serve(self) -> None:
        assert self._server is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                jobs = ZplJobs()
                while not self._stopping.is_set():
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        break
                    if not data:
                        break
                    for job in jobs.feed(data):
                        with self._lock:
                            self.labels.append(PrintedLabel.of(job))
