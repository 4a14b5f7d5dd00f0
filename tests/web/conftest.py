"""The web app's test fixtures: the ledger's API as a process on a stocked ledger with
users who log in, and Debian's chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from central import accounts, db
from central.clock import FixedClock
from central.imports import import_master_data
from central.ledger import Ledger, ReceiptLine
from rules.events import Batch, CabinetAlert, CabinetMovement, stamp
from tests.central.test_ledger import epcs
from tests.central.test_operations import GTIN, stocked
from tests.conftest import days, require_tool
from tests.support import api_process

AXE = Path(__file__).parent / "vendor" / "axe-core-4.10.3" / "axe.min.js"
PASSWORD = "correct horse battery"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip


@pytest.fixture
def ledger_url(db_url: str) -> str:
    """A ledger (on SQLite and on PostgreSQL: every screen is tested on both) with 3 items
    in the central store and 2 on ward 5 (department ward-5); users: anna (nurse of ward 5),
    sam (storekeeper, everywhere), quinn (quality), ada (admin)."""
    url = db_url
    lg = stocked(url, 3)
    lg.receive([ReceiptLine(epc=e, gtin=GTIN, lot="W5", expiry=days(200), location="s1/ward-5")
                for e in epcs(2, 50)], actor="t", today=days(0))  # fmt: skip
    with lg.session.begin() as s:
        import_master_data(s, "locations", "code,name,department\ns1/ward-5,Ward 5,ward-5\n")
        accounts.add_user(s, "anna", role="nurse", password=PASSWORD, sites=["s1"],
                          departments=["ward-5"])  # fmt: skip
        accounts.add_user(s, "sam", role="storekeeper", password=PASSWORD)
        accounts.add_user(s, "quinn", role="quality", password=PASSWORD)
        accounts.add_user(s, "ada", role="admin", password=PASSWORD)
    lg.engine.dispose()
    return url


@pytest.fixture
def server(ledger_url: str, tmp_path: Path) -> Iterator[str]:
    """`hwms central api` (API and web app) on the ledger, as its own process."""
    yield from api_process(ledger_url, tmp_path / "api.log")


@pytest.fixture
def second_server(ledger_url: str, tmp_path: Path) -> Iterator[str]:
    """Another web process on the same ledger (a scaled-out deployment)."""
    yield from api_process(ledger_url, tmp_path / "api-2.log")


@pytest.fixture
def browser() -> Iterator[Any]:
    exe = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical WCAG 2.1 A/AA violations on the page, by axe-core."""
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag',"
        " values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def log_in(page: Any, base: str, user: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/")
    page.locator("#username").fill(user)
    page.locator("#password").fill(password)
    page.locator("button[type=submit].primary").click()


def cabinet(zone: str, action: str, tags: tuple[str, ...], user: str, case: str, at: datetime,
            seq: int) -> CabinetMovement:  # fmt: skip
    e = CabinetMovement(
        occurred_at_us=int(at.timestamp() * 1_000_000), cabinet=zone, zone=zone,
        action=action,  # type: ignore[arg-type]
        batch=Batch(gtin=GTIN, lot="C1", expiry=None), quantity=len(tags), epcs=tags,
        user_id=user, case_id=case, session_id=None, attributed=True, uncommissioned=False,
    )  # fmt: skip
    return stamp(e, site="s1", gateway="gw1", seq=seq)


@pytest.fixture
def cabinet_server(ledger_url: str, tmp_path: Path) -> Iterator[str]:
    """Two cabinets used an hour ago (wall clock: the web process's period is the last 30
    days): ward 5's by anna for case C-1 (3 taken, 1 returned), the OR's by olga for OP-7."""
    at = datetime.now(UTC) - timedelta(hours=1)
    lg = Ledger(db.engine(ledger_url), clock=FixedClock(at - timedelta(hours=1)))  # received before
    ward, theatre = epcs(3, 300), epcs(4, 400)
    lines = [ReceiptLine(epc=e, gtin=GTIN, lot="C1", expiry=days(300), location="s1/ward-5-cab")
             for e in ward] + [ReceiptLine(epc=e, gtin=GTIN, lot="C1", expiry=days(300),
                                           location="s1/or-cab") for e in theatre]  # fmt: skip
    lg.receive(lines, actor="t", today=days(0))
    with lg.session.begin() as s:
        import_master_data(s, "locations", "code,name,department\ns1/ward-5-cab,Ward 5 cabinet,"
                           "ward-5\ns1/or-cab,OR cabinet,or\n")  # fmt: skip
        import_master_data(s, "products", "gtin,name,unit_price\n04012345000016,Saline 0.9%,2.50\n")
        import_master_data(s, "departments", "code,name\nward-5,Ward 5\nor,Theatres\n")
        import_master_data(s, "users", "id,name,department,badge\nolga,Olga,or,B-OLGA\n"
                           "anna,Anna,ward-5,B-ANNA\n")  # fmt: skip
    lg.apply(cabinet("ward-5-cab", "take", ward, "anna", "C-1", at, 1))
    lg.apply(
        cabinet("ward-5-cab", "return", ward[:1], "anna", "C-1", at + timedelta(minutes=30), 2)
    )
    lg.apply(cabinet("or-cab", "take", theatre[:2], "B-OLGA", "OP-7", at, 3))
    suspect = CabinetAlert(occurred_at_us=int(at.timestamp() * 1_000_000), cabinet="ward-5-cab",
                           reason="suspect_missing", detail="1 item gone without a badge",
                           epcs=ward[1:2])  # fmt: skip
    lg.apply(stamp(suspect, site="s1", gateway="gw1", seq=4))
    lg.engine.dispose()
    yield from api_process(ledger_url, tmp_path / "api.log")
