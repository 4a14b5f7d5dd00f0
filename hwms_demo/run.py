"""`hwms demo`, step by step: broker, receiving, the ledger and its API, the emulators on one
clock, the edge, the day played, the outcome compared, then wait (or `--exit`)."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TextIO

import yaml

from hwms_demo.day import MODBUS_SPEED, Day
from hwms_demo.his import DemoHis
from hwms_demo.narrate import LiveLog, report_orders, watch
from hwms_demo.outcome import compare, outcome, resolve, summary
from hwms_demo.scanning import receive_by_scan
from hwms_demo.supervisor import (
    EmbeddedBroker,
    Supervisor,
    find_mosquitto,
    free_port,
    http_ok,
    port_open,
)
from readers.label_printer import LabelPrinterEmulator

DATA = Path(__file__).resolve().parent / "data"  # package data: works from a wheel too
STARTUP_S = 10.0  # the day's clock starts this long after the emulators are launched
DEMO_TOKEN = "demo-admin-token"
DEMO_PASSWORD = "hwms-demo-password"  # a demo on loopback; never a real hospital's
DEMO_USERS = {
    "nurse": ["ward-5"],
    "head": ["ward-5"],
    "storekeeper": [],
    "quality": [],
    "purchasing": [],
    "admin": [],
    "viewer": [],
}  # role -> departments in scope


@dataclass(frozen=True)
class DemoPorts:
    """Free loopback ports, one per service."""

    mqtt: int = field(default_factory=free_port)
    ledger_metrics: int = field(default_factory=free_port)
    api: int = field(default_factory=free_port)
    edge_metrics: int = field(default_factory=free_port)
    store: int = field(default_factory=free_port)
    ward: int = field(default_factory=free_port)
    cabinet: int = field(default_factory=free_port)
    modbus: int = field(default_factory=free_port)


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return out.getvalue()


def _write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Demo:
    """One run of the demo; `run()` is its steps in order."""

    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.out = out
        self.day = Day(yaml.safe_load(Path(args.day).read_text()), args.speed)
        self.workdir = Path(args.workdir or tempfile.mkdtemp(prefix="hwms-demo-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sup = Supervisor(self.workdir)
        self.ports = DemoPorts()
        self.db_url = f"sqlite:///{self.workdir / 'ledger.db'}"
        self.hwms = [sys.executable, "-m", "hwms_cli"]
        self.embedded: EmbeddedBroker | None = None
        self.printer = LabelPrinterEmulator()  # the store's RFID label printer
        self.his = DemoHis()  # the HIS the ledger pushes FHIR resources to
        self.audit_key = ""  # the public key of the ledger's checkpoints, once it runs
        self.his_told = 0
        self.protocol = "v5"
        self.central: dict[str, Any] = {}
        self.requisition = 0  # the day's requisition, once the nurse has sent it
        self.order = 0  # the day's purchase order, once the buyer accepted the proposal
        self.api = f"http://127.0.0.1:{self.ports.api}"
        self.ledger_metrics = f"http://127.0.0.1:{self.ports.ledger_metrics}/metrics"
        self.edge_metrics = f"http://127.0.0.1:{self.ports.edge_metrics}/metrics"
        self.t0 = 0.0

    def say(self, text: str) -> None:
        self.out.write(text)

    def run(self) -> int:
        mosquitto = find_mosquitto() if self.args.broker != "embedded" else None
        if mosquitto is None and self.args.broker == "mosquitto":
            print("hwms demo: mosquitto is not installed. `make demo` installs it from the"
                  " system's packages (apt); or: sudo apt-get install mosquitto",
                  file=sys.stderr)  # fmt: skip
            return 1
        self.say(f"hwms demo: a hospital day at {self.day.site}, speed x{self.args.speed:g};"
                 f" work folder {self.workdir}\n")  # fmt: skip
        try:
            self._start_broker(mosquitto)
            ledger = self._book_receiving()
            self._start_central()
            self.t0 = time.time() + STARTUP_S / 2 + 2.0  # the emulators' shared clock
            live = LiveLog(self.day, self.out, self.t0)
            watcher = watch(self.ports.mqtt, self.protocol == "v5", live)  # before anything moves
            badge = self._start_emulators()
            self._start_edge(badge)
            self._play_day(ledger, live)
            watcher.loop_stop()
            watcher.disconnect()
            problems = self._compare()
            if not self.args.exit:
                self._wait_until_stopped()
            return 1 if problems else 0
        except (RuntimeError, OSError) as exc:
            print(f"hwms demo: {exc}", file=sys.stderr)
            return 1
        finally:
            self.say("stopping...\n")
            self.out.flush()
            self.sup.stop()
            self.printer.stop()
            self.his.stop()
            if self.embedded is not None:
                self.embedded.stop()
            self.say("stopped.\n")

    def _start_broker(self, mosquitto: str | None) -> None:
        port = self.ports.mqtt
        if mosquitto is not None:
            conf = self.workdir / "mosquitto.conf"
            conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                            "persistence false\nmax_queued_messages 100000\n")  # fmt: skip
            self.sup.start("mosquitto", [mosquitto, "-c", str(conf)], lambda: port_open(port))
            self.say(f"  broker: mosquitto (MQTT v5) on 127.0.0.1:{port}\n")
            return
        self.embedded = EmbeddedBroker(port).start()
        self.protocol = "v311"
        self.say(f"  broker: mosquitto not found: the embedded amqtt broker on 127.0.0.1:{port};"
                 " edge and ledger speak MQTT 3.1.1 (no shared subscriptions)\n")  # fmt: skip

    def _book_receiving(self) -> Any:
        """Before the day: the storekeeper books the deliveries and the stock limits."""
        from central import accounts, db
        from central.config import parse
        from central.imports import import_master_data
        from central.ledger import Ledger

        day = self.day
        db.upgrade(self.db_url)
        config = parse(yaml.safe_load((DATA / "central.yaml").read_text()))
        ledger = Ledger(db.engine(self.db_url), supply=config.supply,
                        purchasing=config.purchasing)  # fmt: skip
        today = date.today()  # the demo runs on the wall clock
        lines = day.receipt(today)
        ledger.receive(lines, actor="storekeeper-1", today=today)
        limits = "location,gtin,min,max\n" + "".join(
            f"{day.site}/{lim['location']},{day.gtin(lim['product'])},{lim['min']},{lim['max']}\n"
            for lim in day.data.get("limits", [])
        )
        products = _csv(["gtin", "name", "unit_price"],
                        [[p["gtin"], p["name"], p.get("unit_price", "")]
                         for p in day.products.values()])  # fmt: skip
        with ledger.session.begin() as s:
            import_master_data(s, "products", products, actor="storekeeper-1")
            import_master_data(s, "limits", limits, actor="storekeeper-1")
            import_master_data(s, "locations", f"code,name,department\n{day.site}/ward-5,"
                               "Ward 5,ward-5\n", actor="storekeeper-1")  # fmt: skip
            for role, departments in DEMO_USERS.items():
                accounts.add_user(s, f"demo-{role}", role=role, password=DEMO_PASSWORD,
                                  departments=departments)  # fmt: skip
        self.say(f"  receiving: {len(lines)} tagged items booked,"
                 f" {len(day.data.get('limits', []))} stock limits set\n")  # fmt: skip
        self._before_purchasing(ledger, today)
        return ledger

    def _before_purchasing(self, ledger: Any, today: date) -> None:
        """The suppliers on file, twelve weeks of use behind the store, and the proposals
        the ledger makes overnight: what the day's delivery will bring."""
        from central import accounts
        from central.accounts import Principal
        from central.imports import import_master_data
        from central.vocab import Role
        from hwms_demo.purchasing import seed_history

        spec = self.day.data["purchasing"]
        with ledger.session.begin() as s:
            for kind in ("suppliers", "supplier-products"):
                import_master_data(s, kind, spec[kind], actor="purchasing-1")
            accounts.add_user(s, "demo-supplier", role="supplier", password=DEMO_PASSWORD,
                              supplier=spec["supplier"])  # fmt: skip
        used = seed_history(ledger, self.day, spec["product"], today)
        made = ledger.propose_replenishment(today)
        store = f"{self.day.site}/central_store"
        buyer = Principal("purchasing-1", Role.PURCHASING)
        (proposal,) = [p for p in ledger.proposals(buyer) if p["location"] == store]
        self.day.ordered = int(proposal["order_quantity"])
        self.say(f"  purchasing: {used} {spec['product']} used in the last 12 weeks; overnight,"
                 f" {made} proposals: the store's min {proposal['proposed_min']}, max"
                 f" {proposal['proposed_max']}, order {self.day.ordered} from"
                 f" {proposal['supplier']} ({proposal['method']})\n")  # fmt: skip

    def _start_central(self) -> None:
        from central.api import hash_token
        from central.audit_checkpoints import new_key, public_hex

        ports = self.ports
        self.central = yaml.safe_load((DATA / "central.yaml").read_text())
        mqtt = {"port": ports.mqtt, "client_id": "hwms-demo-ledger",
                "username": "hwms-demo-ledger", "protocol": self.protocol}  # fmt: skip
        self.his.start()
        fhir = {"subscriptions": [{"url": self.his.url}], "retry_s": 2}
        key_file = self.workdir / "audit-signing-key.pem"  # the ledger's credential
        key_file.unlink(missing_ok=True)
        self.audit_key = public_hex(new_key(key_file))  # what an auditor would pin
        audit = {"signing_key_file": str(key_file), "checkpoint_every_s": 5}
        self.central |= {"db": self.db_url, "metrics_port": ports.ledger_metrics, "mqtt": mqtt,
                         "fhir": fhir, "audit": audit}  # fmt: skip
        config = _write_yaml(self.workdir / "central.yaml", self.central)
        self.sup.start("ledger", [*self.hwms, "central", "run", "--config", str(config)],
                       lambda: http_ok(self.ledger_metrics))  # fmt: skip
        tokens = self.workdir / "tokens.json"
        tokens.write_text(json.dumps({hash_token(DEMO_TOKEN): {"user": "demo", "role": "admin"}}))
        self.printer.start()
        self.sup.start("api", [*self.hwms, "central", "api", "--config", str(config), "--tokens",
                               str(tokens), "--port", str(ports.api), "--label-printer",
                               f"127.0.0.1:{self.printer.port}"],
                       lambda: http_ok(f"{self.api}/health"))  # fmt: skip
        self.say(f"  web app: {self.api}/  (e.g. demo-storekeeper, password {DEMO_PASSWORD})\n")

    def _start_emulators(self) -> str | None:
        """LLRP portals, the OR cabinet and the fridges, all on the day's clock; returns the
        cabinet's badge reader device."""
        day, ports, start = self.day, self.ports, ["--start-at", f"{self.t0:.3f}"]
        for portal, port in (("store", ports.store), ("ward", ports.ward)):
            scenario = _write_yaml(self.workdir / f"llrp-{portal}.yaml", day.llrp_scenario(portal))
            self.sup.start(f"llrp-{portal}", [*self.hwms, "sim", "llrp", "--port", str(port),
                                              "--scenario", str(scenario), *start],
                           lambda p=port: port_open(p))  # type: ignore[misc]  # fmt: skip
        cab_dir = self.workdir / "cabinet"
        cab_dir.mkdir(exist_ok=True)
        scenario = _write_yaml(self.workdir / "cabinet.yaml", day.cabinet_scenario())
        cabinet = self.sup.start(
            "cabinet", [*self.hwms, "sim", "cabinet", "--scenario", str(scenario), "--tcp-port",
                        str(ports.cabinet), "--workdir", str(cab_dir), *start],
            lambda: port_open(ports.cabinet),
        )  # fmt: skip
        badge = self.sup.first_line(cabinet).get("badge")
        scenario = _write_yaml(self.workdir / "fridges.yaml", day.modbus_scenario())
        self.sup.start("fridges", [*self.hwms, "sim", "modbus", "--port", str(ports.modbus),
                                   "--scenario", str(scenario), "--speed", str(MODBUS_SPEED),
                                   *start],
                       lambda: port_open(ports.modbus))  # fmt: skip
        self.say("  emulators: LLRP portals (store door, ward 5 door), OR-3 cabinet (FEIG),"
                 " 2 fridges (Modbus TCP)\n")  # fmt: skip
        return str(badge) if badge else None

    def _start_edge(self, badge: str | None) -> None:
        ports, cab_dir = self.ports, self.workdir / "cabinet"
        edge = yaml.safe_load((DATA / "edge.yaml").read_text())
        edge["mqtt"] |= {"port": ports.mqtt, "protocol": self.protocol,
                         "username": edge["gateway"]}  # fmt: skip
        edge["outbox"]["path"] = str(self.workdir / "edge-outbox.db")
        edge["metrics"]["port"] = ports.edge_metrics
        edge["log_format"] = "json"
        for reader in edge["readers"]["llrp"]:
            reader["port"] = ports.store if reader["id"] == "portal-store" else ports.ward
        cab = edge["readers"]["cabinets"][0]
        cab["url"] = f"socket://127.0.0.1:{ports.cabinet}"
        cab["door_gpio_file"] = str(cab_dir / "door")
        cab["lock_gpio_file"] = str(cab_dir / "lock")
        if badge:
            cab["badge_serial"] = badge
        edge["readers"]["modbus"][0]["url"] = f"tcp://127.0.0.1:{ports.modbus}"
        config = _write_yaml(self.workdir / "edge.yaml", edge)
        self.sup.start("edge", [*self.hwms, "edge", "run", "--config", str(config)],
                       lambda: http_ok(self.edge_metrics))  # fmt: skip
        self.say(f"  edge: gateway {edge['gateway']} (logs in {self.workdir / 'logs'})\n\n")

    def _play_day(self, ledger: Any, live: LiveLog) -> None:
        day, seen_orders = self.day, dict[str, str]()
        last_at = day.at(day.acts[-1])
        for act in day.acts:
            while time.time() < self.t0 + day.at(act):
                report_orders(ledger, seen_orders, live, day)
                self._report_his(live)
                dead = self.sup.dead()
                if dead:
                    raise RuntimeError(f"{dead[0].name} stopped; see {dead[0].log}")
                time.sleep(0.25)
            pct = 100 * day.at(act) / last_at if last_at else 100
            live.say(f"── {pct:3.0f}% ── {act.get('say', '')}")
            if "recall" in act:
                self._recall(ledger, live, act["recall"])
            if "scan_receipt" in act:
                self._scan_receipt(live, act["scan_receipt"])
            if "requisition" in act:
                self._requisition(live, act["requisition"])
            if "purchasing" in act:
                self._purchasing(live, act["purchasing"])
        # let the last events and one more alert evaluation land
        settle_until = time.time() + float(self.central.get("evaluate_every_s", 5)) + 4.0
        while time.time() < settle_until:
            report_orders(ledger, seen_orders, live, self.day)
            self._report_his(live)
            time.sleep(0.25)

    def _report_his(self, live: LiveLog) -> None:
        for kind, rid, status in self.his.seen()[self.his_told :]:
            live.say(f"HIS (FHIR): received {kind}/{rid} ({status}), pushed by the ledger")
            self.his_told += 1

    def _recall(self, ledger: Any, live: LiveLog, r: dict[str, Any]) -> None:
        day = self.day
        from central.signatures import sign_as

        signed = sign_as(ledger.session.begin, "demo-quality", DEMO_PASSWORD,
                         f"recall notice for lot {r['lot']}", ledger.clock.now())  # fmt: skip
        ledger.lock_batch(day.gtin(r["product"]), r["lot"], signed=signed)
        trace = ledger.trace(day.gtin(r["product"]), r["lot"])
        where: dict[str, int] = {}
        for u in trace["units"]:
            key = (u["location"] or "consumed").removeprefix(f"{day.site}/")
            where[key] = where.get(key, 0) + 1
        live.say(f"recall: {r['product']} lot {r['lot']} locked; trace: "
                 + ", ".join(f"{n} at {k}" for k, n in sorted(where.items()))
                 + f"; {len(trace['movements'])} movements on record")  # fmt: skip

    def _requisition(self, live: LiveLog, spec: dict[str, Any]) -> None:
        """A step of the day's requisition, by the demo user of the step's role at the web
        app's forms: request, approve or issue."""
        from hwms_demo import requisitions

        user = f"demo-{spec['by']}"
        if spec["step"] == "request":
            self.requisition = requisitions.request(self.api, user, DEMO_PASSWORD, self.day, spec)
            live.say(f"requisition #{self.requisition} submitted by {user}")
        elif spec["step"] == "approve":
            status = requisitions.approve(self.api, user, DEMO_PASSWORD, self.requisition)
            live.say(f"requisition #{self.requisition} {status} by {user}")
        else:
            status, picks = requisitions.issue(self.api, user, DEMO_PASSWORD, self.requisition)
            lots = ", ".join(f"{n} of lot {lot}" for lot, n in picks)
            live.say(f"requisition #{self.requisition} {status} by {user} (first expiry first:"
                     f" {lots}); in transit until ward 5's gate reads it")  # fmt: skip

    def _purchasing(self, live: LiveLog, spec: dict[str, Any]) -> None:
        """A step of the day's purchase order at the web app's forms: the proposal accepted,
        the order approved, sent, confirmed and announced by the supplier's user."""
        from hwms_demo import purchasing

        user, step = f"demo-{spec['by']}", spec["step"]
        if step == "accept":
            name = self.day.products[spec["product"]]["name"]
            where = f"{self.day.site}/{spec['location']}"
            self.order = purchasing.accept_proposal(self.api, user, DEMO_PASSWORD, name, where)
            live.say(f"proposal accepted by {user}: purchase order PO-{self.order:06d}, draft")
        elif step == "announce":
            gtin = self.day.gtin(self.day.data["purchasing"]["product"])
            status = purchasing.announce(self.api, user, DEMO_PASSWORD, self.order, spec, gtin,
                                         self.day.ordered, date.today())  # fmt: skip
            live.say(
                f"PO-{self.order:06d} {status} by {user}: delivery tomorrow; ship notice"
                f" {spec['number']} with {self.day.ordered} EPCs and the pallet's SSCC"
            )
        else:
            fields = [("channel", "manual")] if step == "send" else []
            status = purchasing.act(self.api, user, DEMO_PASSWORD, self.order, step, fields)
            live.say(f"PO-{self.order:06d} {status} by {user}"
                     + (" (the PDF downloaded and sent)" if step == "send" else ""))  # fmt: skip

    def _scan_receipt(self, live: LiveLog, spec: dict[str, Any]) -> None:
        """The storekeeper receives an untagged delivery at the scan screen, as a browser
        would, and has the RFID label printer tag one item."""
        result = receive_by_scan(self.api, "demo-storekeeper", DEMO_PASSWORD, self.day, spec,
                                 date.today())  # fmt: skip
        counts = {o: result.outcomes.count(o) for o in dict.fromkeys(result.outcomes)}
        live.say("scan receiving: " + ", ".join(f"{n} {o}" for o, n in counts.items())
                 + f"; {result.booked}")  # fmt: skip
        if result.tag:
            label = self.printer.printed()[-1]
            live.say(f"label printer: tag written {result.tag} (EPC {label.epc_hex}),"
                     " GS1 DataMatrix printed")  # fmt: skip

    def _compare(self) -> list[str]:
        got = outcome(self.db_url, self.day)
        got["fhir_pushed"] = sorted([kind, rid, status] for kind, rid, status in self.his.seen())
        record = {**got, "values": {"ordered": self.day.ordered}}
        (self.workdir / "outcome.json").write_text(json.dumps(record, indent=1))
        problems = compare(got, resolve(self.day.data.get("expect", {}), self.day.ordered))
        problems += self._audit_verify()
        summary(self.out, got, problems)
        self.say(
            "\nStill running:\n"
            f"  web app         {self.api}/   users demo-nurse, demo-head, demo-storekeeper,"
            f" demo-quality, demo-purchasing, demo-admin, demo-viewer, demo-supplier (Medline's"
            f" portal); password {DEMO_PASSWORD}\n"
            f"  ledger API      {self.api}/docs   (token: {DEMO_TOKEN})\n"
            f"                  curl -H 'Authorization: Bearer {DEMO_TOKEN}' {self.api}/stock\n"
            f"  ledger metrics  {self.ledger_metrics}\n"
            f"  edge metrics    {self.edge_metrics}\n"
            f"  MQTT            mosquitto_sub -p {self.ports.mqtt} -t 'hwms/#' -v\n"
            f"  ledger          hwms central stock --db {self.db_url}\n"
        )
        return problems

    def _audit_verify(self) -> list[str]:
        """The day's ledger checked as an auditor would: `hwms central audit verify` with
        the checkpoints' key pinned. Its problems are the day's."""
        done = subprocess.run([*self.hwms, "central", "audit", "verify", "--db", self.db_url,
                               "--public-key", self.audit_key],
                              capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        said = (done.stdout + done.stderr).strip()
        self.say(f"\nhwms central audit verify: {said}\n")
        return [] if done.returncode == 0 else [f"audit verify: {said.splitlines()[0]}"]

    def _wait_until_stopped(self) -> None:
        self.say("Press Ctrl-C to stop.\n")
        self.out.flush()
        done = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        while not done.wait(1.0):
            if self.sup.dead():
                self.say(f"{self.sup.dead()[0].name} stopped; shutting down\n")
                return


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    return Demo(args, out).run()


def add_command(sub: Any) -> None:
    p = sub.add_parser("demo", help="the whole system and a scripted hospital day (make demo)")
    p.add_argument("--day", default=str(DATA / "day.yaml"), help="the day's script")
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
