"""The edge daemon as a process, against a real mosquitto and the LLRP emulator."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from readers.llrp_emulator import LlrpEmulator
from tests.conftest import Mosquitto, make_tls, mosquitto_passwords
from tests.edge.harness import Daemon, Listener, batches, carts, edge_config, free_port, metric
from tests.support import client

pytestmark = pytest.mark.slow


def expected(n: int, size: int = 6) -> list[tuple[str, str, int]]:
    out = []
    for i in range(n):
        d = "IN" if i % 2 == 0 else "OUT"
        out += [(d, "04012345000016", size), (d, "04012345000023", size // 2)]
    return out


def seqs_are_complete(events: list[dict[str, Any]]) -> tuple[bool, list[int]]:
    """Every sequence number from 1 to the highest arrived, each always with one event_id."""
    ids: dict[int, str] = {}
    for e in events:
        assert ids.setdefault(e["seq"], e["event_id"]) == e["event_id"], "one seq, two event ids"
    top = max(ids, default=0)
    missing = sorted(set(range(1, top + 1)) - set(ids))
    return not missing, missing


@pytest.fixture
def rig(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[dict[str, Any]]:
    made: list[Any] = []

    def make(
        scenario: dict[str, Any],
        speed: float = 1.0,
        start_at: float | None = None,
        **mqtt_extra: Any,
    ) -> dict[str, Any]:
        emu = LlrpEmulator(scenario, speed=speed, start_at=start_at).start()
        made.append(emu)
        metrics_port = free_port()
        cfg = edge_config(
            tmp_path,
            mqtt_port=mosquitto.port,
            llrp_port=emu.port,
            metrics_port=metrics_port,
            **mqtt_extra,
        )
        listener = Listener(mosquitto.port)
        made.append(listener)
        listener.wait(lambda lst: lst.client.is_connected(), timeout=10)
        daemon = Daemon(cfg, tmp_path / "edge.log")
        made.append(daemon)
        return {
            "emu": emu,
            "listener": listener,
            "daemon": daemon,
            "metrics": metrics_port,
            "broker": mosquitto,
        }

    yield {"make": make}
    for thing in reversed(made):
        if isinstance(thing, Daemon):
            thing.stop()
        else:
            thing.close()


def test_gate_scenario_arrives_as_exact_batches_and_sigterm_is_clean(rig: dict[str, Any]) -> None:
    r = rig["make"](carts(3, spacing_s=2.5), speed=1.0)
    r["daemon"].start()
    lst: Listener = r["listener"]
    lst.wait(lambda x: len(batches(x.events())) >= 6, timeout=40)
    time.sleep(1.0)
    assert batches(lst.events()) == expected(3)
    first = lst.events("batch_movement")[0]
    assert first["schema"] == 1 and first["site"] == "demo" and first["gateway"] == "gw1"
    assert first["body"]["biz_step"] == "receiving"
    assert lst.content_types == {"application/json"}  # v5 properties, packed once, on every event
    started = time.monotonic()
    assert r["daemon"].kill(signal.SIGTERM) == 0
    assert time.monotonic() - started < 15
    status = [p for t, p in lst.messages if t == "hwms/v1/demo/gw1/status"]
    assert status[0]["state"] == "online" and status[-1]["state"] == "offline"
    ok, missing = seqs_are_complete(lst.events())
    assert ok, missing


def test_broker_killed_under_load_loses_nothing(rig: dict[str, Any]) -> None:
    n = 12
    r = rig["make"](carts(n, spacing_s=0.9), speed=1.0)
    r["daemon"].start()
    lst: Listener = r["listener"]
    broker: Mosquitto = r["broker"]
    lst.wait(lambda x: len(batches(x.events())) >= 4, timeout=40)
    broker.proc.kill()  # type: ignore[union-attr]
    broker.proc.wait()  # type: ignore[union-attr]
    broker.proc = None
    time.sleep(3.0)
    broker.start()
    lst.wait(lambda x: len(batches(x.events())) >= 2 * n, timeout=60)
    time.sleep(1.5)
    assert sorted(batches(lst.events())) == sorted(expected(n))
    ok, missing = seqs_are_complete(lst.events())
    assert ok, missing
    firsts: list[int] = []
    for e in lst.events():
        if e["seq"] not in firsts:
            firsts.append(e["seq"])
    assert firsts == sorted(firsts), "events arrived out of order"


def test_daemon_killed_midstream_loses_nothing(rig: dict[str, Any]) -> None:
    """Carts one after another, the edge SIGKILLed among them and back a second later: the
    journal restores what it had accepted, the reader hands over what it read meanwhile, and
    the movements are those of an uninterrupted run (they used to lose the carts in flight)."""
    n = 8
    r = rig["make"](carts(n, spacing_s=2.5, start_s=3.0), speed=1.0, start_at=time.time())
    daemon: Daemon = r["daemon"]
    daemon.start()
    lst: Listener = r["listener"]
    lst.wait(lambda x: len(batches(x.events())) >= 4, timeout=40)
    daemon.kill(signal.SIGKILL)
    time.sleep(1.0)
    daemon.start()
    lst.wait(lambda x: len(batches(x.events())) >= 2 * n, timeout=40)
    time.sleep(2.0)
    ok, missing = seqs_are_complete(lst.events())
    assert ok, missing
    assert batches(lst.events()) == expected(n)
    assert any("rules state restored" in rec.get("event", "") for rec in daemon.logs())


def test_broker_refusal_is_visible_and_loses_nothing(rig: dict[str, Any], tmp_path: Path) -> None:
    r = rig["make"](carts(2, spacing_s=2.0), speed=1.0)
    broker: Mosquitto = r["broker"]
    acl = tmp_path / "acl"
    acl.write_text(
        "topic readwrite hwms/v1/demo/gw1/status\ntopic readwrite hwms/v1/demo/gw1/readers/#\ntopic read hwms/#\n"
    )
    broker.reconfigure(acl_file=acl)
    time.sleep(1.5)  # the listener reconnects to the restarted broker
    r["listener"].wait(lambda x: x.client.is_connected(), timeout=10)
    r["daemon"].start()
    port = r["metrics"]
    deadline = time.monotonic() + 30
    while (metric(port, "hwms_mqtt_refused_total") or 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (metric(port, "hwms_mqtt_refused_total") or 0) >= 1
    assert any(
        rec.get("event") == "broker refused event; keeping it for retry"
        for rec in r["daemon"].logs()
    )
    assert r["listener"].events("batch_movement") == []
    time.sleep(5)
    assert (metric(port, "hwms_outbox_depth") or 0) >= 1
    acl.write_text("topic readwrite hwms/#\n")
    broker.reload()
    r["listener"].wait(lambda x: len(batches(x.events())) >= 4, timeout=40)
    assert sorted(batches(r["listener"].events())) == sorted(expected(2))


def test_tls_and_password_work_and_a_wrong_password_is_a_clear_retry(
    rig: dict[str, Any], tmp_path: Path
) -> None:
    tls = make_tls(tmp_path)
    passwd = mosquitto_passwords(tmp_path, gw1="right-pass")
    (tmp_path / "pw").write_text("wrong-pass\n")
    r = rig["make"](carts(2, spacing_s=2.0), speed=1.0)
    broker: Mosquitto = r["broker"]
    broker.reconfigure(tls=tls, password_file=passwd)
    listener = Listener.tls(broker.tls_port, tls["ca"], "gw1", "right-pass")
    cfg = edge_config(
        tmp_path, mqtt_port=broker.tls_port, llrp_port=r["emu"].port, metrics_port=r["metrics"],
        username="gw1", password_file=str(tmp_path / "pw"), tls={"ca_file": str(tls["ca"])},
    )  # fmt: skip
    daemon = Daemon(cfg, tmp_path / "tls.log").start()
    try:
        time.sleep(4)
        assert daemon.proc is not None and daemon.proc.poll() is None  # still running, retrying
        refusals = [rec for rec in daemon.logs() if rec.get("event") == "mqtt connection refused"]
        assert refusals, "a wrong password must be logged clearly"
        assert refusals[0]["reason"] in ("Bad user name or password", "Not authorized")
        daemon.kill(signal.SIGTERM)
        (tmp_path / "pw").write_text("right-pass\n")
        daemon.start()
        listener.wait(lambda x: len(batches(x.events())) >= 4, timeout=40)
    finally:
        daemon.stop()
        listener.close()


def test_cabinet_and_fridges_through_the_daemon(rig: dict[str, Any], tmp_path: Path) -> None:
    """A nurse takes items from an OR cabinet; a fridge warms up: both reach the broker."""
    import yaml

    from readers.cabinet_emulator import CabinetEmulator, ReaderModel
    from readers.cabinet_protocol import Protocol
    from readers.gate_stream import make_epcs
    from readers.modbus_emulator import Fridge, ModbusEmulator

    r = rig["make"]({"events": []})
    items = [bytes.fromhex(h) for h in make_epcs("04012345000030", 1, 6, 7)]
    cab_dir = tmp_path / "cab"
    cab_dir.mkdir()
    cab = CabinetEmulator(
        ReaderModel(protocol=Protocol.CHAFON, shelves={1: set(items)}), cab_dir
    ).start()
    fridge_port = free_port()
    fridges = ModbusEmulator(
        [Fridge(device_id=1), Fridge(device_id=2, behaviour="compressor_failure", base_c=7.8)],
        port=fridge_port,
        speed=60.0,  # one emulated minute per second
    ).start()
    try:
        cfg = yaml.safe_load(r["daemon"].config.read_text())
        cfg["zones"].append({"name": "or"})
        cfg["readers"]["cabinets"] = [
            {"id": "or-1", "url": cab.reader_device, "protocol": "chafon", "zone": "or",
             "badge_serial": cab.badge_device, "door_gpio_file": str(cab.door_path),
             "lock_gpio_file": str(cab.lock_path), "scans_after_close": 2}
        ]  # fmt: skip
        cfg["readers"]["modbus"] = [
            {"id": "bus", "url": f"tcp://127.0.0.1:{fridge_port}", "interval_s": 0.5, "timeout_s": 0.3,
             "sensors": [{"id": "f1", "device_id": 1, "profile": "xy-md02"},
                         {"id": "f2", "device_id": 2, "profile": "xy-md02"}]}
        ]  # fmt: skip
        cfg["cold_units"] = [
            {"unit": "fridge-1", "sensor": "f1"},
            {
                "unit": "fridge-2",
                "sensor": "f2",
                "overrides": {"alarm_delay_s": 2, "warn_delay_s": 2},
            },
        ]
        r["daemon"].config.write_text(yaml.safe_dump(cfg))
        r["daemon"].start()
        lst: Listener = r["listener"]
        time.sleep(3)  # the first cabinet scan sets the baseline
        cab.badge("nurse-7", "case-1")
        time.sleep(0.5)
        cab.run_scenario([{"door": "open"}, {"wait": 1.0}, {"take": 2}, {"door": "close"}], seed=2)
        lst.wait(lambda x: bool(x.events("cabinet_movement")), timeout=30)
        take = lst.events("cabinet_movement")[0]["body"]
        assert (take["action"], take["quantity"], take["user_id"], take["case_id"]) == (
            "take",
            2,
            "nurse-7",
            "case-1",
        )
        lst.wait(
            lambda x: any(e["body"]["to_state"] == "ACTIVE" and e["body"]["unit"] == "fridge-2"
                          for e in x.events("coldchain_transition")),
            timeout=30,
        )  # fmt: skip
        assert not [
            e for e in lst.events("coldchain_transition") if e["body"]["unit"] == "fridge-1"
        ]
        assert (metric(r["metrics"], "hwms_sensor_temperature_celsius", '{sensor="f1"}') or 0) > 4
    finally:
        r["daemon"].stop()
        cab.close()
        fridges.close()


def test_a_garbage_cabinet_is_one_log_line_and_a_metric(
    rig: dict[str, Any], tmp_path: Path
) -> None:
    """A cabinet reader that answers only noise, its door cycled: one warning when it starts
    failing (not one per retry or per skipped poll), hwms_cabinet_up 0, failed scans counted."""
    import random
    import socket
    import threading

    import yaml

    stop = threading.Event()
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)

    def noise() -> None:
        rng = random.Random(7)
        conns: list[socket.socket] = []
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conns.append(server.accept()[0])
            for c in conns:
                with contextlib.suppress(OSError):
                    c.sendall(rng.randbytes(64))
        for c in conns:
            c.close()

    noisy = threading.Thread(target=noise, daemon=True)
    noisy.start()
    door = tmp_path / "door"
    door.write_text("0")
    r = rig["make"]({"events": []})
    try:
        cfg = yaml.safe_load(r["daemon"].config.read_text())
        cfg["zones"].append({"name": "or"})
        cfg["readers"]["cabinets"] = [
            {"id": "or-9", "url": f"socket://127.0.0.1:{server.getsockname()[1]}", "protocol": "feig",
             "zone": "or", "door_gpio_file": str(door), "lock_gpio_file": str(tmp_path / "lock"),
             "scans_after_close": 1, "poll_interval_s": 0.05}
        ]  # fmt: skip
        r["daemon"].config.write_text(yaml.safe_dump(cfg))
        r["daemon"].start()
        deadline = time.monotonic() + 30
        while (
            metric(r["metrics"], "hwms_cabinet_scans_total", '{cabinet="or-9",result="failed"}')
            or 0
        ) < 3:
            assert time.monotonic() < deadline, "the cabinet was never scanned three times"
            door.write_text("1")
            time.sleep(0.3)
            door.write_text("0")
            time.sleep(1.0)
        assert metric(r["metrics"], "hwms_cabinet_up", '{cabinet="or-9"}') == 0
    finally:
        r["daemon"].stop()
        stop.set()
        noisy.join(5)
        server.close()
    loud = [rec for rec in r["daemon"].logs() if rec.get("level") in ("warning", "error")]
    about_cabinet = [rec for rec in loud if rec.get("cabinet") == "or-9"]
    assert [rec["event"] for rec in about_cabinet] == ["cabinet failing"], about_cabinet
    assert not [rec for rec in loud if "skipped" in str(rec.get("event"))]
    scheduler = [line for line in r["daemon"].log.read_text().splitlines() if "apscheduler" in line]
    assert not scheduler, scheduler[:3]


def test_commissioning_map_and_commands_from_the_centre(rig: dict[str, Any]) -> None:
    """A retained commissioning map gives lots to the next passes; a command unlocks a cabinet."""
    import json

    import yaml

    from readers.gate_stream import make_epcs
    from rules.epc import decode

    r = rig["make"](carts(2, spacing_s=2.0, start_s=4.0))
    lock = Path(r["daemon"].config.parent) / "lock"
    door = Path(r["daemon"].config.parent) / "door"
    door.write_text("0")
    lock.write_text("0")
    cfg = yaml.safe_load(r["daemon"].config.read_text())
    cfg["zones"].append({"name": "or"})
    cfg["readers"]["cabinets"] = [{"id": "or-1", "url": "socket://127.0.0.1:9", "protocol": "feig", "zone": "or",
                                   "door_gpio_file": str(door), "lock_gpio_file": str(lock)}]  # fmt: skip
    r["daemon"].config.write_text(yaml.safe_dump(cfg))
    records = {
        decode(e).uri: {"gtin": "04012345000016", "lot": "LOT-A", "expiry": "2030-06-30"}
        for i in range(2)
        for e in make_epcs("04012345000016", 1000 * i + 1, 6, 7)
    }
    centre = client(r["broker"].port, "centre")
    try:
        centre.publish("hwms/v1/demo/commissioning", json.dumps({"schema": 1, "version": 3, "records": records}),
                       qos=1, retain=True).wait_for_publish(5)  # fmt: skip
        r["daemon"].start()
        lst: Listener = r["listener"]
        lst.wait(lambda x: len(batches(x.events())) >= 4, timeout=40)
        lots = {(e["body"]["batch"]["gtin"], e["body"]["batch"]["lot"], e["body"]["batch"]["expiry"])
                for e in lst.events("batch_movement")}  # fmt: skip
        assert ("04012345000016", "LOT-A", "2030-06-30") in lots
        assert (
            "04012345000023",
            None,
            None,
        ) in lots  # not commissioned: lot unknown, still reported
        centre.publish("hwms/v1/demo/gw1/cmd/cabinet/or-1/unlock", b"", qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while lock.read_text() != "1" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock.read_text() == "1"
    finally:
        centre.loop_stop()
        centre.disconnect()


def test_poisoned_retained_maps_and_commands_never_stop_the_rules(rig: dict[str, Any]) -> None:
    """A deeply nested retained commissioning map once killed the rules thread, again after
    every restart; bad deltas and commands are refused with a metric, and passes go on."""

    r = rig["make"](carts(4, spacing_s=2.0, start_s=3.0))
    centre = client(r["broker"].port, "centre")
    nested = b'{"schema": 1, "records": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    bad_record = b'{"schema": 1, "base_version": 0, "version": 5, "records": {"x": {"lot": 7}}}'
    try:
        for topic, payload in (("hwms/v1/demo/commissioning", nested),
                               ("hwms/v1/demo/commissioning/delta", bad_record)):  # fmt: skip
            centre.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
        lst: Listener = r["listener"]
        for run in range(2):  # the retained poison comes again at the restart
            r["daemon"].start()
            lst.wait(lambda x, n=run: len(batches(x.events())) >= 2 * (n + 1), timeout=40)  # type: ignore[misc]
            centre.publish("hwms/v1/demo/gw1/cmd/no-such-command", b"[[[", qos=1)
            deadline = time.monotonic() + 10
            while (metric(r["metrics"], "hwms_commands_rejected_total") or 0) < 3:
                assert time.monotonic() < deadline, "the bad command was not counted"
                time.sleep(0.1)
            assert r["daemon"].kill(signal.SIGTERM) == 0
    finally:
        for topic in ("hwms/v1/demo/commissioning", "hwms/v1/demo/commissioning/delta"):
            centre.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        centre.loop_stop()
        centre.disconnect()


def test_killed_in_the_middle_of_a_pass_gives_the_movements_of_an_uninterrupted_run(
    rig: dict[str, Any],
) -> None:
    """SIGKILL after a cart's reads and before its pass closed: the journal of what the
    rules were fed brings the open pass back, so the cart's movements are not lost (they
    once were: open passes lived only in memory)."""
    t0 = time.time()
    r = rig["make"](carts(3, spacing_s=6.0, start_s=3.0), start_at=t0)  # reader on wall time
    r["daemon"].start()
    lst: Listener = r["listener"]
    lst.wait(lambda x: len(batches(x.events())) >= 2, timeout=30)  # the first cart is through
    time.sleep(max(0.0, t0 + 3.0 + 6.0 + 1.4 - time.time()))  # second cart read, pass open
    assert len(batches(lst.events())) == 2
    r["daemon"].kill(signal.SIGKILL)
    r["daemon"].start()
    lst.wait(lambda x: len(batches(x.events())) >= 6, timeout=40)
    time.sleep(1.0)
    assert batches(lst.events()) == expected(3)
    ok, missing = seqs_are_complete(lst.events())
    assert ok, missing


def test_a_cart_that_passes_while_the_edge_is_down_is_not_lost(rig: dict[str, Any]) -> None:
    """The reader holds what it reads while the edge is away (LLRP hold upon reconnect) and
    sends it, with its times, when the edge is back: the movements of an uninterrupted run."""
    t0 = time.time()
    r = rig["make"](carts(3, spacing_s=6.0, start_s=3.0), start_at=t0)
    r["daemon"].start()
    lst: Listener = r["listener"]
    lst.wait(lambda x: len(batches(x.events())) >= 2, timeout=30)  # the first cart is through
    time.sleep(max(0.0, t0 + 8.0 - time.time()))
    r["daemon"].kill(signal.SIGKILL)  # down before the second cart comes (at 9 s)...
    time.sleep(max(0.0, t0 + 12.0 - time.time()))
    assert len(batches(lst.events())) == 2
    r["daemon"].start()  # ...and back after it has gone
    lst.wait(lambda x: len(batches(x.events())) >= 6, timeout=40)
    time.sleep(1.0)
    assert batches(lst.events()) == expected(3)
    assert r["emu"].held_reports_total > 0
