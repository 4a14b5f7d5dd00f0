"""The demo's processes: each child started and watched until ready, logs in files; the
embedded MQTT broker (amqtt, MQTT 3.1.1) when mosquitto is not installed."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)),
        None,
    )


# --- processes ---------------------------------------------------------------------------


class EmbeddedBroker:
    """The fallback when mosquitto is not installed: amqtt (MQTT 3.1.1 only) in a thread of
    this process. Clients must give a username: amqtt keeps no session (and no queued QoS 1
    messages) for anonymous clients."""

    def __init__(self, port: int) -> None:
        import asyncio

        self.port = port
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="broker")
        self._broker: Any = None

    def start(self) -> EmbeddedBroker:
        import asyncio
        import logging

        from amqtt.broker import Broker

        for name in ("amqtt", "transitions"):  # the broker's chatter is not the day's story
            logging.getLogger(name).setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {
                "allow_anonymous": False}},  # any username is let in, and gets a session
        }  # fmt: skip

        async def start() -> Any:
            broker = Broker(config)
            await broker.start()
            return broker

        self._thread.start()
        self._broker = asyncio.run_coroutine_threadsafe(start(), self.loop).result(15)
        return self

    def stop(self) -> None:
        import asyncio

        if self._broker is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


class Supervisor:
    """Starts children in their own sessions (Ctrl-C reaches only us) and stops them in the
    reverse order: the edge drains before the ledger and the broker go."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.children: list[Child] = []
        (workdir / "logs").mkdir(parents=True, exist_ok=True)

    def start(
        self, name: str, argv: list[str], ready: Callable[[], bool], timeout_s: float = 30.0
    ) -> Child:
        log = self.workdir / "logs" / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        child = Child(name, proc, log)
        self.children.append(child)
        deadline = time.monotonic() + timeout_s
        while not ready():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout_s:.0f} s; see {log}")
            time.sleep(0.1)
        return child

    def first_line(self, child: Child) -> dict[str, Any]:
        for line in child.log.read_text().splitlines():
            if line.startswith("{"):
                return dict(json.loads(line))
        return {}

    def dead(self) -> list[Child]:
        return [c for c in self.children if c.proc.poll() is not None]

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
                try:
                    child.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.proc.kill()
                    child.proc.wait()
