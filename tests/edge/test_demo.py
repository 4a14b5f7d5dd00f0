"""The gate demo produces the scenario's batch events."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from edge import demo
from rules.events import BatchMovement, Direction
from rules.gateway import GatewayRules


def test_demo_stream_yields_expected_batches() -> None:
    reads, commissioning = demo.recorded_stream()
    rules = GatewayRules(demo.demo_config(), commissioning)
    events = [e for e in demo.run_stream(rules, reads) if isinstance(e, BatchMovement)]
    confident = {
        (e.direction, e.batch.gtin, e.batch.lot): e.quantity
        for e in events
        if e.direction != Direction.UNKNOWN
    }
    saline, cefazolin, implant, gloves = demo.PRODUCTS
    assert confident[(Direction.IN, saline.gtin, saline.lot)] == 24
    assert confident[(Direction.IN, cefazolin.gtin, cefazolin.lot)] == 24
    assert confident[(Direction.IN, gloves.gtin, gloves.lot)] == 24
    assert confident[(Direction.OUT, saline.gtin, saline.lot)] == 6
    assert confident[(Direction.OUT, gloves.gtin, gloves.lot)] == 4
    assert confident[(Direction.IN, "04012345000054", None)] == 2  # uncommissioned
    assert confident[(Direction.IN, None, None)] == 1  # the factory-EPC tag
    # every implant crossed, confidently or not; none lost
    implants = sum(e.quantity for e in events if e.batch.gtin == implant.gtin)
    assert implants == 3
    assert rules.portals["store-door"].stray_passes_total > 0


def test_demo_main_prints_events() -> None:
    out = io.StringIO()
    assert demo.main(out=out, as_json=True) == 0
    lines = out.getvalue().splitlines()
    payloads = [json.loads(line) for line in lines if line.startswith("{")]
    assert payloads and all(p["kind"] == "batch_movement" for p in payloads)


def test_cli_epc_decode() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hwms_cli", "epc", "decode", "3074257BF7194E4000001A85", "00"],
        capture_output=True,
        text=True,
        check=False,
    )
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert (
        first["uri"] == "urn:epc:id:sgtin:0614141.812345.6789" and first["gtin"] == "80614141123458"
    )
    assert "error" in second and proc.returncode == 1
