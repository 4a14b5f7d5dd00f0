"""`hwms demo` (`make demo`): the whole system on one machine, and a scripted hospital day.

Separate processes, supervised: a mosquitto broker on a free loopback port, the central
ledger (SQLite) and its HTTP API, the emulators (two LLRP portals, an OR cabinet, two fridges
on Modbus TCP) and an edge daemon configured from `config/demo/`. The day
(`config/demo/day.yaml`) is played against them: receiving before the day, then carts,
a nurse at the cabinet, a fridge door left open, a recall. What happens is printed as it
reaches the broker; at the end the ledger's stock, open alerts and transport orders are
compared with the day's expected outcome. Everything stays up until Ctrl-C unless `--exit`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

import yaml

from hwms_common.config import MqttConnection
from hwms_common.mqtt import connect, mqtt_client
from rules import topics

ROOT = Path(__file__).resolve().parent
DEMO = ROOT / "config" / "demo"
STARTUP_S = 10.0  # the day's clock starts this long after the emulators are launched
MODBUS_SPEED = 60.0  # the fridges' physics runs a minute per second
DEMO_TOKEN = "demo-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _http_ok(url: str) -> bool:
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


# --- the day -----------------------------------------------------------------------------


class Day:
    def __init__(self, data: dict[str, Any], speed: float) -> None:
        self.data = data
        self.speed = speed
        self.site = str(data["site"])
        self.products = {k: dict(v) for k, v in data["products"].items()}
        self.names: dict[str, str] = {str(v["gtin"]): k for k, v in self.products.items()}
        self.acts = sorted(data["acts"], key=lambda a: float(a["at"]))

    def at(self, act: dict[str, Any]) -> float:
        return float(act["at"]) / self.speed

    def gtin(self, product: str) -> str:
        return str(self.products[product]["gtin"])

    def items(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "gtin": self.gtin(i["product"]),
                "first_serial": i["first_serial"],
                "count": i["count"],
            }
            for i in specs
        ]

    def receipt(self, today: date) -> list[Any]:
        from central.ledger import ReceiptLine
        from readers.gate_stream import make_epcs
        from rules.epc import decode

        lines = []
        for r in self.data["receiving"]:
            for item in self.items([r]):
                for epc in make_epcs(item["gtin"], item["first_serial"], item["count"], 7):
                    lines.append(
                        ReceiptLine(
                            epc=decode(epc).uri,
                            gtin=item["gtin"],
                            lot=str(r["lot"]),
                            expiry=today + timedelta(days=int(r["expiry_days"])),
                            location=f"{self.site}/{r['location']}",
                        )
                    )
        return lines

    def llrp_scenario(self, portal: str) -> dict[str, Any]:
        events = [
            {
                "at": self.at(a),
                "cart": {
                    "direction": a["cart"]["direction"],
                    "inside": [1, 2],
                    "outside": [3, 4],
                    "duration": 2.0,
                    "items": self.items(a["cart"]["items"]),
                },
            }
            for a in self.acts
            if a.get("portal") == portal
        ]
        return {"seed": 7, "reader": {"antennas": 4}, "events": events}

    def cabinet_scenario(self) -> dict[str, Any]:
        steps: list[dict[str, Any]] = []
        for a in self.acts:
            if "cabinet" not in a:
                continue
            steps.append({"at": self.at(a)})
            for given in a["cabinet"]:
                step = dict(given)
                if "product" in step:
                    step["gtin"] = self.gtin(step.pop("product"))
                steps.append(step)
        shelves = {int(k): self.items(v) for k, v in self.data["cabinet"].items()}
        return {"protocol": "feig", "seed": 3, "shelves": shelves, "steps": steps}

    def modbus_scenario(self) -> dict[str, Any]:
        fridges = {1: {"device_id": 1, "profile": "xy-md02", "behaviour": "normal"},
                   2: {"device_id": 2, "profile": "xy-md02", "behaviour": "normal"}}  # fmt: skip
        for a in self.acts:
            if "fridge" in a:
                f = a["fridge"]
                fridges[int(f["device_id"])] |= {
                    "behaviour": f["behaviour"],
                    "at_s": self.at(a) * MODBUS_SPEED,
                }
        return {"fridges": list(fridges.values())}


# --- what happens, readable --------------------------------------------------------------


class LiveLog:
    """Prints the broker's traffic as sentences, with the day's clock."""

    def __init__(self, day: Day, out: TextIO, t0: float) -> None:
        self.day = day
        self.out = out
        self.t0 = t0
        self.lock = threading.Lock()
        self.alerts_seen: set[tuple[int, str, str]] = set()
        self.gateways: dict[str, Any] = {}

    def say(self, text: str) -> None:
        with self.lock:
            clock = max(0.0, time.time() - self.t0)
            self.out.write(f"[{clock:6.1f}s] {text}\n")
            self.out.flush()

    def name(self, gtin: str | None) -> str:
        return self.day.names.get(gtin or "", gtin or "unknown product")

    def on_message(self, topic: str, payload: bytes) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if topic.startswith(topics.ALERTS_PREFIX + "/"):
            tier = f" (escalated to {data['notify']})" if data.get("notify") else ""
            key = (data["id"], data["state"], data["severity"])
            again = " (reminder)" if key in self.alerts_seen else ""
            self.alerts_seen.add(key)
            self.say(f"ALERT {data['state']}{again} [{data['severity']}] {data['message']}{tier}")
            return
        if topic.endswith("/commissioning"):
            self.say(f"commissioning map v{data['version']}: {len(data['records'])} tags")
            return
        where = topics.parse_gateway_topic(topic)
        if where is not None and where.leaf == "status" and not where.rest:
            if self.gateways.get(where.gateway) != data.get("state"):
                self.gateways[where.gateway] = data.get("state")
                self.say(f"gateway {where.gateway} is {data.get('state')}")
            return
        if where is None or where.kind is None:
            return
        b = data.get("body", {})
        kind = where.kind
        if kind == "batch_movement":
            batch = b["batch"]
            self.say(
                f"{b['read_point']}: {b['direction']} {b['quantity']} x {self.name(batch['gtin'])}"
                f" lot {batch['lot']} ({b['from_zone']} -> {b['to_zone']}, {b['biz_step']})"
            )
        elif kind == "cabinet_movement":
            batch = b["batch"]
            self.say(
                f"cabinet {b['cabinet']}: {b['user_id'] or 'someone'} {b['action']}s"
                f" {b['quantity']} x {self.name(batch['gtin'])} lot {batch['lot']}"
                f" (case {b['case_id'] or '-'})"
            )
        elif kind == "coldchain_transition":
            value = "" if b["value_c"] is None else f" at {b['value_c']:.1f} °C"
            self.say(f"{b['unit']}: {b['condition']} {b['from_state']} -> {b['to_state']}{value}")
        elif kind in ("sensor_status", "reader_status", "cabinet_alert"):
            what = b.get("sensor") or b.get("reader") or b.get("cabinet")
            state = b.get("status") or b.get("state") or b.get("reason")
            self.say(f"{kind.replace('_', ' ')}: {what} {state} {b.get('reason', '')}".rstrip())


# --- the outcome -------------------------------------------------------------------------


def outcome(db_url: str, day: Day) -> dict[str, list[list[Any]]]:
    """Stock, open alerts and transport orders in the day's own terms (names, not ids)."""
    from sqlalchemy import select

    from central import alerts, db
    from central.ledger import Ledger
    from central.models import Batch, Location, TransportOrder

    lg = Ledger(db.engine(db_url))
    prefix = f"{day.site}/"

    def loc(code: str) -> str:
        return code.removeprefix(prefix)

    stock = sorted(
        [loc(r["location"]), day.names.get(r["gtin"], r["gtin"]), r["lot"], r["quantity"]]
        for r in lg.stock()
    )
    with lg.session() as s:
        codes = dict(s.execute(select(Location.id, Location.code)).all())
        batches = {b.id: b for b in s.scalars(select(Batch))}

        def subject(kind: str, key: str, message: str) -> str:
            left, _, right = key.partition("@")
            if kind in ("expiry", "expired"):
                b = batches[int(left)]
                return f"{day.names.get(b.gtin, b.gtin)} {b.lot} @ {loc(codes[int(right)])}"
            if kind in ("low_stock", "stockout", "overstock"):
                return f"{day.names.get(left, left)} @ {loc(codes[int(right)])}"
            if kind == "recall":
                b = batches[int(key)]
                return f"{day.names.get(b.gtin, b.gtin)} {b.lot}"
            if kind == "locked_batch_moved":
                m = re.search(r"batch (\d{14}) lot (\S+)", message)
                return f"{day.names.get(m[1], m[1])} {m[2]}" if m else message
            if kind == "coldchain":
                return " ".join(key.split("/")[1:])
            return key.removeprefix(prefix) if "/" in key else message

        open_alerts = sorted(
            [a.kind, a.severity, subject(a.kind, a.key, a.message)] for a in alerts.open_alerts(s)
        )
        orders = sorted(
            [loc(o.source), loc(o.destination), day.names.get(o.gtin, o.gtin), o.quantity, o.state]
            for o in s.scalars(select(TransportOrder))
        )
    return {"stock": stock, "open_alerts": open_alerts, "transport_orders": orders}


def compare(got: dict[str, list[list[Any]]], expected: dict[str, Any]) -> list[str]:
    problems = []
    for part in ("stock", "open_alerts", "transport_orders"):
        want = sorted(list(x) for x in expected.get(part, []))
        have = got[part]
        for x in want:
            if x not in have:
                problems.append(f"{part}: missing {x}")
        for x in have:
            if x not in want:
                problems.append(f"{part}: unexpected {x}")
    return problems


# --- main --------------------------------------------------------------------------------


def _write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from central import db
    from central.api import hash_token
    from central.imports import import_master_data
    from central.ledger import Ledger

    day = Day(yaml.safe_load(Path(args.day).read_text()), args.speed)
    mosquitto = find_mosquitto() if args.broker != "embedded" else None
    if mosquitto is None and args.broker == "mosquitto":
        print(
            "hwms demo: mosquitto is not installed. `make demo` installs it from the system's"
            " packages (apt); or: sudo apt-get install mosquitto",
            file=sys.stderr,
        )
        return 1
    v5 = mosquitto is not None
    embedded: EmbeddedBroker | None = None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="hwms-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sup = Supervisor(workdir)
    hwms = [sys.executable, "-m", "hwms_cli"]
    ports = {k: free_port() for k in ("mqtt", "ledger_metrics", "api", "edge_metrics",
                                       "store", "ward", "cabinet", "modbus")}  # fmt: skip
    db_url = f"sqlite:///{workdir / 'ledger.db'}"
    w = out.write
    w(f"hwms demo: a hospital day at {day.site}, speed x{args.speed:g}; work folder {workdir}\n")
    try:
        # the broker
        if mosquitto is not None:
            conf = workdir / "mosquitto.conf"
            conf.write_text(
                f"listener {ports['mqtt']} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 100000\n"
            )
            sup.start("mosquitto", [mosquitto, "-c", str(conf)], lambda: _port_open(ports["mqtt"]))
            w(f"  broker: mosquitto (MQTT v5) on 127.0.0.1:{ports['mqtt']}\n")
        else:
            embedded = EmbeddedBroker(ports["mqtt"]).start()
            w(
                "  broker: mosquitto not found: the embedded amqtt broker on"
                f" 127.0.0.1:{ports['mqtt']}; edge and ledger speak MQTT 3.1.1"
                " (no shared subscriptions)\n"
            )
        protocol = "v5" if v5 else "v311"

        # receiving before the day: the storekeeper books the deliveries and the limits
        db.upgrade(db_url)
        lg = Ledger(db.engine(db_url))
        today = date.today()
        lines = day.receipt(today)
        lg.receive(lines, actor="storekeeper-1", today=today)
        limits = "location,gtin,min,max\n" + "".join(
            f"{day.site}/{lim['location']},{day.gtin(lim['product'])},{lim['min']},{lim['max']}\n"
            for lim in day.data.get("limits", [])
        )
        with lg.session.begin() as s:
            import_master_data(s, "limits", limits, actor="storekeeper-1")
        w(f"  receiving: {len(lines)} tagged items booked, {len(day.data.get('limits', []))}"
          " stock limits set\n")  # fmt: skip

        # the ledger and its API
        central = yaml.safe_load((DEMO / "central.yaml").read_text())
        central |= {"db": db_url, "metrics_port": ports["ledger_metrics"],
                    "mqtt": {"port": ports["mqtt"], "client_id": "hwms-demo-ledger",
                             "username": "hwms-demo-ledger", "protocol": protocol}}  # fmt: skip
        central_cfg = _write_yaml(workdir / "central.yaml", central)
        ledger_metrics = f"http://127.0.0.1:{ports['ledger_metrics']}/metrics"
        sup.start(
            "ledger",
            [*hwms, "central", "run", "--config", str(central_cfg)],
            lambda: _http_ok(ledger_metrics),
        )
        tokens = workdir / "tokens.json"
        tokens.write_text(json.dumps({hash_token(DEMO_TOKEN): {"user": "demo", "role": "admin"}}))
        api = f"http://127.0.0.1:{ports['api']}"
        sup.start(
            "api",
            [*hwms, "central", "api", "--db", db_url, "--tokens", str(tokens),
             "--port", str(ports["api"])],
            lambda: _http_ok(f"{api}/health"),
        )  # fmt: skip

        # the emulators, all on one clock
        t0 = time.time() + STARTUP_S / 2 + 2.0
        # watch the broker, subscribed before anything moves
        live = LiveLog(day, out, t0)
        watcher = _watch(ports["mqtt"], v5, live)

        start = ["--start-at", f"{t0:.3f}"]
        for portal in ("store", "ward"):
            scen = _write_yaml(workdir / f"llrp-{portal}.yaml", day.llrp_scenario(portal))
            sup.start(
                f"llrp-{portal}",
                [*hwms, "sim", "llrp", "--port", str(ports[portal]), "--scenario", str(scen),
                 *start],
                lambda p=ports[portal]: _port_open(p),  # type: ignore[misc]
            )  # fmt: skip
        cab_dir = workdir / "cabinet"
        cab_dir.mkdir(exist_ok=True)
        cab_scen = _write_yaml(workdir / "cabinet.yaml", day.cabinet_scenario())
        cabinet = sup.start(
            "cabinet",
            [*hwms, "sim", "cabinet", "--scenario", str(cab_scen), "--tcp-port",
             str(ports["cabinet"]), "--workdir", str(cab_dir), *start],
            lambda: _port_open(ports["cabinet"]),
        )  # fmt: skip
        badge = sup.first_line(cabinet).get("badge")
        fridge_scen = _write_yaml(workdir / "fridges.yaml", day.modbus_scenario())
        sup.start(
            "fridges",
            [*hwms, "sim", "modbus", "--port", str(ports["modbus"]), "--scenario",
             str(fridge_scen), "--speed", str(MODBUS_SPEED), *start],
            lambda: _port_open(ports["modbus"]),
        )  # fmt: skip
        w("  emulators: LLRP portals (store door, ward 5 door), OR-3 cabinet (FEIG),"
          " 2 fridges (Modbus TCP)\n")  # fmt: skip

        # the edge
        edge = yaml.safe_load((DEMO / "edge.yaml").read_text())
        edge["mqtt"] |= {"port": ports["mqtt"], "protocol": protocol, "username": edge["gateway"]}
        edge["outbox"]["path"] = str(workdir / "edge-outbox.db")
        edge["metrics"]["port"] = ports["edge_metrics"]
        edge["log_format"] = "json"
        for reader in edge["readers"]["llrp"]:
            reader["port"] = ports["store" if reader["id"] == "portal-store" else "ward"]
        cab = edge["readers"]["cabinets"][0]
        cab["url"] = f"socket://127.0.0.1:{ports['cabinet']}"
        cab["door_gpio_file"] = str(cab_dir / "door")
        cab["lock_gpio_file"] = str(cab_dir / "lock")
        if badge:
            cab["badge_serial"] = badge
        edge["readers"]["modbus"][0]["url"] = f"tcp://127.0.0.1:{ports['modbus']}"
        edge_cfg = _write_yaml(workdir / "edge.yaml", edge)
        edge_metrics = f"http://127.0.0.1:{ports['edge_metrics']}/metrics"
        sup.start("edge", [*hwms, "edge", "run", "--config", str(edge_cfg)],
                  lambda: _http_ok(edge_metrics))  # fmt: skip
        w(f"  edge: gateway {edge['gateway']} (logs in {workdir / 'logs'})\n\n")

        # play the day
        seen_orders: dict[str, str] = {}
        last_at = day.at(day.acts[-1])
        for act in day.acts:
            while time.time() < t0 + day.at(act):
                _report_orders(lg, seen_orders, live, day)
                dead = sup.dead()
                if dead:
                    raise RuntimeError(f"{dead[0].name} stopped; see {dead[0].log}")
                time.sleep(0.25)
            pct = 100 * day.at(act) / last_at if last_at else 100
            live.say(f"── {pct:3.0f}% ── {act.get('say', '')}")
            if "recall" in act:
                r = act["recall"]
                lg.lock_batch(day.gtin(r["product"]), r["lot"], user="quality-1")
                trace = lg.trace(day.gtin(r["product"]), r["lot"])
                where: dict[str, int] = {}
                for u in trace["units"]:
                    key = (u["location"] or "consumed").removeprefix(f"{day.site}/")
                    where[key] = where.get(key, 0) + 1
                live.say(
                    f"recall: {r['product']} lot {r['lot']} locked; trace: "
                    + ", ".join(f"{n} at {k}" for k, n in sorted(where.items()))
                    + f"; {len(trace['movements'])} movements on record"
                )
        # let the last events and one more alert evaluation land
        settle_until = time.time() + float(central.get("evaluate_every_s", 5)) + 4.0
        while time.time() < settle_until:
            _report_orders(lg, seen_orders, live, day)
            time.sleep(0.25)
        watcher.loop_stop()
        watcher.disconnect()

        got = outcome(db_url, day)
        (workdir / "outcome.json").write_text(json.dumps(got, indent=1))
        problems = compare(got, day.data.get("expect", {}))
        _summary(out, got, problems)
        w(
            "\nStill running:\n"
            f"  ledger API      {api}/docs   (token: {DEMO_TOKEN})\n"
            f"                  curl -H 'Authorization: Bearer {DEMO_TOKEN}' {api}/stock\n"
            f"  ledger metrics  {ledger_metrics}\n"
            f"  edge metrics    {edge_metrics}\n"
            f"  MQTT            mosquitto_sub -p {ports['mqtt']} -t 'hwms/#' -v\n"
            f"  ledger          hwms central stock --db {db_url}\n"
        )
        if not args.exit:
            w("Press Ctrl-C to stop.\n")
            out.flush()
            done = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: done.set())
            signal.signal(signal.SIGTERM, lambda *_: done.set())
            while not done.wait(1.0):
                if sup.dead():
                    w(f"{sup.dead()[0].name} stopped; shutting down\n")
                    break
        return 1 if problems else 0
    except (RuntimeError, OSError) as exc:
        print(f"hwms demo: {exc}", file=sys.stderr)
        return 1
    finally:
        w("stopping...\n")
        out.flush()
        sup.stop()
        if embedded is not None:
            embedded.stop()
        w("stopped.\n")


def _watch(port: int, v5: bool, live: LiveLog, timeout_s: float = 20.0) -> Any:
    """An MQTT client that prints the broker's traffic, returned once its subscription
    is confirmed: the first cart must not pass unseen. It subscribes again on every
    connect, and a short keepalive lets it notice a lost CONNACK (seen with amqtt)."""
    conn = MqttConnection(port=port, protocol="v5" if v5 else "v311",
                          username="hwms-demo-watcher", keepalive_s=5)  # fmt: skip
    subscribed = threading.Event()
    watcher = mqtt_client(conn)
    watcher.on_connect = lambda c, _u, _f, rc, _p: (
        None if rc.is_failure else c.subscribe([(f"{topics.PREFIX}/#", 1)])
    )
    watcher.on_subscribe = lambda _c, _u, _m, _rc, _p: subscribed.set()
    watcher.on_message = lambda _c, _u, m: live.on_message(m.topic, bytes(m.payload))
    connect(watcher, conn)
    watcher.loop_start()
    if not subscribed.wait(timeout_s):
        watcher.loop_stop()
        raise RuntimeError(f"could not subscribe to the broker on port {port} in {timeout_s:g} s")
    return watcher


def _report_orders(lg: Any, seen: dict[str, str], live: LiveLog, day: Day) -> None:
    """Print transport orders that are new or changed state (the ledger's log adapter has
    no AGV to report to; the database is where the orders are)."""
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError

    from central.models import TransportOrder

    with contextlib.suppress(OperationalError), lg.session() as s:  # SQLite busy: next time
        for o in s.scalars(select(TransportOrder)):
            if seen.get(o.id) != o.state:
                seen[o.id] = o.state
                live.say(
                    f"AGV order {o.state}: {o.quantity} x {day.names.get(o.gtin, o.gtin)}"
                    f" {o.source.split('/')[-1]} -> {o.destination.split('/')[-1]}"
                )


def _summary(out: TextIO, got: dict[str, list[list[Any]]], problems: list[str]) -> None:
    w = out.write
    w("\nEnd of the day.\nStock:\n")
    for loc, product, lot, qty in got["stock"]:
        w(f"  {loc:<15} {product:<10} {lot or '(no lot)':<8} {qty:>4}\n")
    w("Open alerts:\n")
    for kind, severity, subject in got["open_alerts"]:
        w(f"  {severity:<8} {kind:<19} {subject}\n")
    w("Transport orders:\n")
    for src, dst, product, qty, state in got["transport_orders"]:
        w(f"  {src} -> {dst}: {qty} x {product} ({state})\n")
    if problems:
        w("The day did NOT end as expected:\n" + "".join(f"  {p}\n" for p in problems))
    else:
        w("The day ended exactly as expected.\n")


def add_command(sub: Any) -> None:
    p = sub.add_parser("demo", help="the whole system and a scripted hospital day (make demo)")
    p.add_argument("--day", default=str(DEMO / "day.yaml"), help="the day's script")
    p.add_argument("--speed", type=float, default=1.0, help="play the day's acts this much faster")
    p.add_argument(
        "--workdir", help="where databases, configs and logs go (default: a new temp dir)"
    )
    p.add_argument("--exit", action="store_true", help="stop after the day instead of waiting")
    p.add_argument(
        "--broker",
        choices=["auto", "mosquitto", "embedded"],
        default="auto",
        help="auto: mosquitto when installed, else the embedded MQTT 3.1.1 broker (amqtt)",
    )
    p.set_defaults(func=run)
