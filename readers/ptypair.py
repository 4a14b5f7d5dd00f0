"""A null-modem cable in software: two pseudo-terminals whose bytes are copied across.

Each side is a real tty device path that pyserial (or pymodbus) opens like a serial port,
so tests and demos exercise the real serial code path without hardware or socat.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import threading
import tty


class PtyPair:
    def __init__(self) -> None:
        self._a_master, a_slave = pty.openpty()
        self._b_master, b_slave = pty.openpty()
        for fd in (a_slave, b_slave):
            tty.setraw(fd)
        self.a = os.ttyname(a_slave)
        self.b = os.ttyname(b_slave)
        self._slaves = (a_slave, b_slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True, name="ptypair")

    def start(self) -> PtyPair:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self._a_master, self._b_master, *self._slaves):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _pump(self) -> None:
        peers = {self._a_master: self._b_master, self._b_master: self._a_master}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(peers), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if data:
                    os.write(peers[fd], data)
