"""`hwms sim ...` (device emulators) and `hwms probe ...` (first checks on site).

Probes work against any device that speaks the protocol, not only our emulators: they print
one JSON line per tag read / channel / item and a summary line, and exit non-zero with a
clear message when the device cannot be reached, refuses, or answers with errors.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from readers.cabinet import CabinetReaderClient
from readers.cabinet_emulator import CabinetEmulator, ReaderModel
from readers.cabinet_protocol import Protocol
from readers.gate_stream import epcs_from_spec
from readers.llrp import LlrpReader, LlrpSettings
from readers.llrp_emulator import LlrpEmulator
from readers.modbus import ModbusPoller, ModbusSensor
from readers.modbus_emulator import ModbusEmulator, fridges_from_scenario
from readers.modbus_profiles import PROFILES
from readers.ptypair import PtyPair
from rules.epc import EpcError, decode
from rules.events import us_to_iso
from rules.observations import Observation, ReaderState, ReaderStatus, TagRead


def _load(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: a scenario must be a mapping")
    return data


def _wait(duration: float | None) -> None:
    """Run until SIGINT/SIGTERM or `duration` seconds."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait(duration)


def _say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


# --- sims ------------------------------------------------------------------------------------


def sim_llrp(args: argparse.Namespace) -> int:
    emu = LlrpEmulator(
        _load(args.scenario),
        port=args.port,
        speed=args.speed,
        loop=args.loop,
        start_at=args.start_at,
    ).start()
    _say(sim="llrp", listening=f"127.0.0.1:{emu.port}", scenario_reads=len(emu.reads))
    try:
        _wait(args.duration)
    finally:
        emu.close()
    return 0


def sim_cabinet(args: argparse.Namespace) -> int:
    data = _load(args.scenario)
    protocol = Protocol(args.protocol or data.get("protocol", "feig"))
    shelves = {
        int(ant): {bytes.fromhex(e) for e in epcs_from_spec({"items": specs})}
        for ant, specs in (data.get("shelves") or {}).items()
    }
    model = ReaderModel(protocol=protocol, address=int(data.get("address", 0)), shelves=shelves)
    with tempfile.TemporaryDirectory(prefix="hwms-cabinet-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        emu = CabinetEmulator(model, workdir, tcp_port=args.tcp_port).start()
        _say(
            sim="cabinet",
            protocol=protocol.value,
            reader=emu.reader_device,
            reader_tcp=f"socket://127.0.0.1:{emu.tcp_port}" if args.tcp_port is not None else None,
            badge=emu.badge_device,
            door_file=str(emu.door_path),
            lock_file=str(emu.lock_path),
        )
        try:
            steps = data.get("steps", [])
            if steps:
                threading.Thread(
                    target=emu.run_scenario,
                    args=(steps, int(data.get("seed", 1)), args.start_at),
                    daemon=True,
                ).start()
            _wait(args.duration)
        finally:
            emu.close()
    return 0


def sim_modbus(args: argparse.Namespace) -> int:
    fridges = fridges_from_scenario(_load(args.scenario))
    pair = PtyPair().start() if args.transport == "rtu" else None
    emu = ModbusEmulator(
        fridges,
        transport=args.transport,
        port=args.port,
        serial_port=pair.b if pair else "",
        speed=args.speed,
        start_at=args.start_at,
    ).start()
    url = f"rtu://{pair.a}?baudrate=9600" if pair else emu.url
    _say(sim="modbus", url=url, devices=[f.device_id for f in fridges])
    try:
        _wait(args.duration)
    finally:
        emu.close()
        if pair:
            pair.close()
    return 0


# --- probes ----------------------------------------------------------------------------------


def _epc_uri(epc_hex: str) -> str | None:
    try:
        return decode(epc_hex).uri
    except EpcError:
        return None


def probe_llrp(args: argparse.Namespace) -> int:
    host, _, port = args.target.partition(":")
    settings = LlrpSettings(
        reader_id=args.target,
        host=host,
        port=int(port or 5084),
        antennas=tuple(int(a) for a in args.antennas.split(",")),
        tx_power_dbm=args.power,
        setup_timeout_s=args.timeout,
    )
    q: queue.Queue[Observation] = queue.Queue()
    reader = LlrpReader(settings, q.put_nowait).start()
    reads = 0
    tags: set[str] = set()
    end = None
    try:
        while True:
            timeout = 0.1 if end is None else max(0.0, end - time.monotonic())
            try:
                obs = q.get(timeout=timeout)
            except queue.Empty:
                if end is not None and time.monotonic() >= end:
                    break
                continue
            if isinstance(obs, ReaderStatus):
                if obs.state == ReaderState.UP and end is None:
                    end = time.monotonic() + args.duration
                elif obs.state == ReaderState.DOWN:
                    print(f"hwms probe llrp: {args.target}: {obs.reason}", file=sys.stderr)
                    return 1
            elif isinstance(obs, TagRead):
                reads += 1
                tags.add(obs.epc_hex)
                _say(
                    epc=obs.epc_hex,
                    uri=_epc_uri(obs.epc_hex),
                    antenna=obs.antenna,
                    rssi=obs.rssi_dbm,
                    first_seen=us_to_iso(obs.t_us),
                    last_seen=us_to_iso(obs.t_us),
                    seen_count=obs.seen_count,
                )
    finally:
        reader.stop()
    _say(
        summary=True, reader=args.target, reads=reads, unique_tags=len(tags), seconds=args.duration
    )
    return 0


def probe_modbus(args: argparse.Namespace) -> int:
    profile = PROFILES.get(args.profile)
    if profile is None:
        print(
            f"hwms probe modbus: unknown profile {args.profile!r} ({', '.join(PROFILES)})",
            file=sys.stderr,
        )
        return 2
    sensor = ModbusSensor(
        sensor=f"device-{args.device_id}", device_id=args.device_id, profile=profile
    )
    poller = ModbusPoller(
        name="probe", url=args.url, sensors=(sensor,), timeout_s=args.timeout, retries=1
    )
    try:
        readings = poller.poll()
    finally:
        poller.close()
    for r in readings:
        _say(
            channel=r.channel,
            kind=r.kind,
            value=r.value,
            fault=r.fault or None,
            detail=r.detail or None,
        )
    ok = [r for r in readings if not r.fault]
    _say(summary=True, url=args.url, channels=len(readings), ok=len(ok))
    if not ok:
        print(
            f"hwms probe modbus: {args.url}: no channel could be read ({readings[0].fault})",
            file=sys.stderr,
        )
        return 1
    return 0


def probe_cabinet(args: argparse.Namespace) -> int:
    client = CabinetReaderClient(
        url=args.url,
        protocol=Protocol(args.protocol),
        address=args.address,
        shelves=tuple(int(s, 0) for s in args.shelves.split(",")) if args.shelves else (),
        timeout_s=args.timeout,
        baudrate=args.baudrate,
    )
    try:
        scan = client.scan()
    finally:
        client.close()
    for epc in sorted(scan.epcs):
        _say(epc=epc, uri=_epc_uri(epc))
    _say(summary=True, url=args.url, ok=scan.ok, items=len(scan.epcs), error=scan.error or None)
    if not scan.ok:
        print(f"hwms probe cabinet: {args.url}: {scan.error}", file=sys.stderr)
        return 1
    return 0


def add_commands(sub: Any) -> None:
    sim = sub.add_parser("sim", help="device emulators").add_subparsers(
        dest="sim_command", required=True
    )
    p = sim.add_parser("llrp", help="an LLRP RFID reader on TCP playing a scenario")
    p.add_argument("--port", type=int, default=5084)
    p.add_argument("--scenario", help="YAML/JSON scenario (see config/scenarios/llrp-gate.yaml)")
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--loop", action="store_true", help="replay the scenario forever")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--start-at", type=float, help="scenario time 0 at this Unix time")
    p.set_defaults(func=sim_llrp, log_level_default="INFO")
    p = sim.add_parser(
        "cabinet", help="a smart cabinet (reader pty, badge pty, door and lock files)"
    )
    p.add_argument("--scenario", help="YAML scenario (see config/scenarios/cabinet-or.yaml)")
    p.add_argument("--protocol", choices=[x.value for x in Protocol])
    p.add_argument("--tcp-port", type=int, help="also serve the reader on socket://127.0.0.1:PORT")
    p.add_argument(
        "--workdir", help="where the door and lock files go (default: a temporary folder)"
    )
    p.add_argument("--duration", type=float)
    p.add_argument("--start-at", type=float, help="scenario time 0 at this Unix time")
    p.set_defaults(func=sim_cabinet, log_level_default="INFO")
    p = sim.add_parser("modbus", help="fridges on a Modbus server")
    p.add_argument("--scenario", help="YAML scenario (see config/scenarios/modbus-fridges.yaml)")
    p.add_argument("--transport", choices=["tcp", "rtu-tcp", "rtu"], default="tcp")
    p.add_argument("--port", type=int, default=5020)
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--duration", type=float)
    p.add_argument("--start-at", type=float, help="scenario time 0 at this Unix time")
    p.set_defaults(func=sim_modbus, log_level_default="INFO")

    probe = sub.add_parser("probe", help="check a device on site").add_subparsers(
        dest="probe_command", required=True
    )
    p = probe.add_parser("llrp", help="inventory an LLRP reader for a while")
    p.add_argument("target", help="HOST[:PORT]")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--antennas", default="1")
    p.add_argument("--power", type=float, help="transmit power in dBm (nearest table entry)")
    p.add_argument("--timeout", type=float, default=10.0)
    p.set_defaults(func=probe_llrp)
    p = probe.add_parser("modbus", help="read every channel of one sensor once")
    p.add_argument(
        "url", help="tcp://HOST:PORT, rtu-tcp://HOST:PORT or rtu:///dev/ttyUSB0?baudrate=9600"
    )
    p.add_argument("--profile", required=True)
    p.add_argument("--device-id", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1.0)
    p.set_defaults(func=probe_modbus)
    p = probe.add_parser("cabinet", help="run one cabinet inventory")
    p.add_argument("url", help="serial device or pyserial URL (socket://HOST:PORT)")
    p.add_argument("--protocol", choices=[x.value for x in Protocol], required=True)
    p.add_argument("--address", type=int, default=0)
    p.add_argument("--shelves", help="FEIG antenna masks, e.g. 0x01,0x02")
    p.add_argument("--baudrate", type=int)
    p.add_argument("--timeout", type=float, default=2.0)
    p.set_defaults(func=probe_cabinet)
