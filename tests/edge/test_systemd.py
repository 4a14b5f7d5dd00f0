"""The edge unit file verifies with systemd-analyze, with the install paths substituted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def analyze() -> str:
    return require_tool("systemd-analyze")


@pytest.mark.parametrize("name", ["hwms-edge.service", "hwms-central.service"])
def test_units_verify(tmp_path: Path, name: str, analyze: str) -> None:
    hwms = Path(sys.executable).parent / "hwms"
    unit = tmp_path / name
    text = (ROOT / "systemd" / name).read_text()
    assert "/opt/hwms/venv/bin/hwms" in text
    unit.write_text(text.replace("/opt/hwms/venv/bin/hwms", str(hwms)))
    proc = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", proc.stderr


@pytest.mark.parametrize("name", ["hwms-edge.service", "hwms-central.service"])
def test_units_exposure_at_most_2(tmp_path: Path, name: str, analyze: str) -> None:
    """`systemd-analyze security --offline=true`: the hardening keeps exposure <= 2.0."""
    import re

    unit = tmp_path / name
    unit.write_text((ROOT / "systemd" / name).read_text())
    proc = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert m is not None, proc.stdout[-2000:] + proc.stderr
    assert float(m[1]) <= 2.0, proc.stdout


def test_sd_notify_reaches_the_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from edge import sdnotify

    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "30000000")
        assert sdnotify.notify("READY=1")
        assert server.recv(100) == b"READY=1"
        assert sdnotify.watchdog_interval_s() == 15.0
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not sdnotify.notify("READY=1")
