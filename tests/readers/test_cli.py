"""`hwms sim ...` and `hwms probe ...` as an engineer runs them, in subprocesses."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from readers.modbus_emulator import Fridge, ModbusEmulator

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "config" / "scenarios"


def hwms(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hwms_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


@contextmanager
def sim(*args: str) -> Iterator[dict[str, object]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hwms_cli", "sim", *args, "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_sim_llrp_then_probe_llrp() -> None:
    with sim("llrp", "--port", "0", "--scenario", str(SCENARIOS / "llrp-gate.yaml")) as info:
        proc = hwms(
            "probe", "llrp", str(info["listening"]), "--duration", "2", "--antennas", "1,2,3,4"
        )
    assert proc.returncode == 0, proc.stderr
    out = lines(proc.stdout)
    summary = out[-1]
    assert summary["summary"] is True and int(summary["reads"]) > 50  # type: ignore[call-overload]
    tag = out[0]
    assert str(tag["uri"]).startswith("urn:epc:id:sgtin:") and tag["antenna"] in (1, 2, 3, 4)
    assert "stray" not in proc.stdout


def test_probe_llrp_unreachable_says_why() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = hwms("probe", "llrp", f"127.0.0.1:{port}", "--duration", "1")
    assert proc.returncode == 1
    assert "connect failed" in proc.stderr


def test_sim_cabinet_then_probe_cabinet_over_tcp() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with sim(
        "cabinet", "--scenario", str(SCENARIOS / "cabinet-or.yaml"), "--tcp-port", str(port)
    ) as info:
        assert Path(str(info["door_file"])).exists()
        proc = hwms(
            "probe",
            "cabinet",
            str(info["reader_tcp"]),
            "--protocol",
            "feig",
            "--shelves",
            "0x01,0x02",
        )
    assert proc.returncode == 0, proc.stderr
    assert lines(proc.stdout)[-1]["items"] == 16


def test_probe_modbus() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    emu = ModbusEmulator(
        [Fridge(device_id=5), Fridge(device_id=6, behaviour="probe_fault")], port=port
    ).start()
    try:
        good = hwms("probe", "modbus", emu.url, "--profile", "xy-md02", "--device-id", "5")
        bad = hwms("probe", "modbus", emu.url, "--profile", "xy-md02", "--device-id", "6")
        unknown = hwms("probe", "modbus", emu.url, "--profile", "nope")
    finally:
        emu.close()
    assert good.returncode == 0
    assert {o.get("channel"): o.get("value") for o in lines(good.stdout)}["humidity"] == 55.0
    assert bad.returncode == 1 and "device_failure" in bad.stderr
    assert unknown.returncode == 2
