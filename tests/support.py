"""Helpers every test package shares (one copy each): free loopback ports, connected MQTT
clients, bounded waiting."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from hwms_common.config import MqttConnection
from hwms_common.mqtt import mqtt_client


def free_port() -> int:
    """A loopback TCP port nobody listens on (at the time of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client(port: int, client_id: str = "", *, v5: bool = True, start: bool = True) -> mqtt.Client:
    """A test's own MQTT client on the loopback broker at `port`, connected (blocking) and,
    with `start`, with its network loop running; built as hwms builds its own."""
    c = mqtt_client(MqttConnection(port=port, protocol="v5" if v5 else "v311"), client_id)
    c.connect("127.0.0.1", port)
    if start:
        c.loop_start()
    return c


def until(cond: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
    """Wait (bounded) for `cond()` to be true."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not met in {timeout} s")
