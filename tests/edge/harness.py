"""Runs the edge daemon as a subprocess against a private mosquitto and the LLRP emulator,
and listens on the broker with a plain MQTT client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


__all__ = ["free_port"]


def carts(n: int, *, spacing_s: float = 3.0, size: int = 6, start_s: float = 0.5) -> dict[str, Any]:
    """A seeded scenario of `n` carts alternating IN/OUT through a 4-antenna gate; every tag
    is read often and never missed, so each cart yields exactly its batches."""
    events = []
    for i in range(n):
        events.append(
            {
                "at": start_s + i * spacing_s,
                "cart": {
                    "direction": "IN" if i % 2 == 0 else "OUT",
                    "inside": [1, 2],
                    "outside": [3, 4],
                    "duration": 1.0,
                    "reads_per_s": 12,
                    "miss_rate": 0.0,
                    "items": [
                        {"gtin": "04012345000016", "first_serial": 1000 * i + 1, "count": size},
                        {
                            "gtin": "04012345000023",
                            "first_serial": 1000 * i + 1,
                            "count": size // 2,
                        },
                    ],
                },
            }
        )
    return {"seed": 11, "events": events}


def edge_config(
    tmp: Path, *, mqtt_port: int, llrp_port: int, metrics_port: int, **mqtt_extra: Any
) -> Path:
    cfg = {
        "site": "demo",
        "gateway": "gw1",
        "log_format": "json",
        "mqtt": {
            "host": "127.0.0.1",
            "port": mqtt_port,
            "ack_timeout_s": 3,
            "reconnect_min_s": 1,
            **mqtt_extra,
        },
        "outbox": {"path": str(tmp / "outbox.db")},
        "metrics": {"port": metrics_port},
        "readers": {
            "llrp": [
                {
                    "id": "portal",
                    "host": "127.0.0.1",
                    "port": llrp_port,
                    "antennas": [1, 2, 3, 4],
                    "keepalive_s": 1,
                    "dead_after_s": 5,
                }
            ]
        },
        "zones": [{"name": "store"}, {"name": "corridor"}],
        "portals": [
            {
                "name": "door",
                "inside": ["portal:1", "portal:2"],
                "outside": ["portal:3", "portal:4"],
                "inside_zone": "store",
                "outside_zone": "corridor",
                "pass_gap_s": 0.8,
                "holdoff_s": 1.0,
            }
        ],
        "zone_rules": [
            {"from": "corridor", "to": "store", "biz_step": "receiving"},
            {"from": "store", "to": "corridor", "biz_step": "picking"},
        ],
        "cart_gap_s": 1.0,
        "snapshot_interval_s": 1.0,
    }
    path = tmp / "edge.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class Daemon:
    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hwms_cli", "edge", "run", "--config", str(self.config)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.proc = None
        return rc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM)

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out


class Listener:
    """Subscribes to every event of the site; reconnects fast after a broker restart."""

    def __init__(self, port: int, topic: str = "hwms/v1/#") -> None:
        self.messages: list[tuple[str, Any]] = []
        self.content_types: set[str | None] = set()  # of the events (MQTT v5 property)
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"listener-{port}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    @classmethod
    def tls(cls, port: int, ca: Path, username: str, password: str) -> Listener:
        self = cls.__new__(cls)
        self.messages = []
        self.content_types = set()
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"listener-tls-{port}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.tls_set(ca_certs=str(ca))
        self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, *_: c.subscribe("hwms/v1/#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()
        return self

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        try:
            payload = json.loads(msg.payload)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            payload = msg.payload  # kept raw: tests also publish poison
        with self._lock:
            self.messages.append((msg.topic, payload))
            if "/events/" in msg.topic:
                self.content_types.add(getattr(msg.properties, "ContentType", None))

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                p
                for t, p in self.messages
                if "/events/" in t
                and isinstance(p, dict)
                and (kind is None or p.get("kind") == kind)
            ]

    def wait(self, cond: Callable[[Listener], bool], timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond(self):
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out; {len(self.events())} events received")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def metric(port: int, name: str, labels: str = "") -> float | None:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    total = None
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name + labels):
            continue
        if labels or line.startswith((name + " ", name + "{")):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


def batches(events: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(direction, gtin, quantity) of unique batch movements, in arrival order."""
    seen: set[str] = set()
    out = []
    for e in events:
        if e["kind"] != "batch_movement" or e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        out.append((e["body"]["direction"], e["body"]["batch"]["gtin"], e["body"]["quantity"]))
    return out
