"""Acceptance: a shortened demo day, every process real (mosquitto, ledger, API, emulators,
edge), and the ledger's final stock, open alerts and transport orders exactly as the day's
script expects, the day's purchase order included (its quantity is what the ledger's
forecast proposed). Run alone with `pytest -m acceptance`."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

import hwms_demo
from hwms_demo.outcome import PARTS, resolve

ROOT = Path(__file__).resolve().parents[1]
DAY = hwms_demo.DATA / "day.yaml"


@pytest.mark.acceptance
@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
def test_demo_day_ends_exactly_as_scripted(tmp_path: Path, broker: str) -> None:
    """On mosquitto (MQTT v5), and on the embedded fallback broker (MQTT 3.1.1)."""
    if broker == "mosquitto" and hwms_demo.find_mosquitto() is None:
        pytest.fail("mosquitto is required (scripts/system-deps.sh installs it)")
    proc = subprocess.run(
        [sys.executable, "-m", "hwms_cli", "demo", "--exit", "--speed", "1.5",
         "--broker", broker, "--workdir", str(tmp_path)],
        check=False, capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    log = proc.stdout + proc.stderr
    assert "The day ended exactly as expected." in log, log[-4000:]
    assert proc.returncode == 0, log[-4000:]
    got = json.loads((tmp_path / "outcome.json").read_text())
    ordered = got["values"]["ordered"]  # what the ledger's overnight forecast proposed
    assert ordered > 0
    expect = resolve(yaml.safe_load(DAY.read_text())["expect"], ordered)
    for part in PARTS:
        assert got[part] == sorted(list(x) for x in expect[part]), part
    # what a person watching saw: each act, the movements, the alarm, the AGV orders
    for line in (
        "store-door: IN 24 x saline lot L2611A (corridor -> central_store, receiving)",
        "ward-5-door: IN 16 x saline lot L2611A (corridor -> ward-5, receiving)",
        "cabinet or-3: nurse-7 takes 3 x gloves lot G2610 (case case-2026-118)",
        "cabinet or-3: nurse-7 returns 1 x gloves lot G2610 (case case-2026-118)",
        "fridge-2: high_alarm PENDING -> ACTIVE",
        "requisition #1 issued by demo-storekeeper (first expiry first: 16 of lot L2611A)",
        "requisition #1 received: read at its destination by",
        "AGV order sent: 5 x gloves central_store -> or-3",
        "recall: cefazolin lot C2611B locked",
        "proposal accepted by demo-purchasing: purchase order PO-000001, draft",
        "PO-000001 approved by demo-admin",
        f"ship notice DA-2611-07 with {ordered} EPCs",
        "PO-000001 received: the gate:st-elsewhere/central_store reads matched the ship notice",
        "HIS (FHIR): received SupplyDelivery/requisition-1 (completed), pushed by the ledger",
        "── 100% ── end of the day",
        "hwms central audit verify: intact:",  # the day's chain and rows, as written
    ):
        assert line in log, line
    assert "not pinned" not in log and " 0 checkpoints" not in log  # signed, key pinned
    assert "stopped." in proc.stdout
    assert ("MQTT 3.1.1" in proc.stdout) == (broker == "embedded")


def test_demo_day_script_is_consistent() -> None:
    """The script's products, portals and acts are all known (fast, no processes)."""
    day = hwms_demo.Day(yaml.safe_load(DAY.read_text()), speed=2.0)
    store = day.llrp_scenario("store")["events"]
    assert [e["at"] for e in store] == [2.0, 10.0, 26.0, 33.0]
    cab = day.cabinet_scenario()
    assert cab["steps"][0] == {"at": 14.0}
    assert {"take": 3, "gtin": day.gtin("gloves")} in cab["steps"]
    fridge2 = day.modbus_scenario()["fridges"][1]
    assert fridge2["behaviour"] == "door_open" and fridge2["at_s"] == 5.0 * hwms_demo.MODBUS_SPEED
    assert len(day.receipt(date(2026, 11, 24))) == 62
