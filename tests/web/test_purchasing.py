"""Purchasing in Chromium, as the people do it: a buyer makes a draft order, a second buyer
approves and e-mails it (to a local SMTP server), the supplier's user confirms a delivery
date and announces the shipment in the portal, the storekeeper scans the pallet's SSCC and
the delivery books itself as announced; a
delivery that differs is refused until it is accepted with a reason. On both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from central import accounts, db
from central.clock import FixedClock
from central.imports import import_master_data
from central.ledger import Ledger
from tests.central.test_proposals import consume
from tests.conftest import wall_days
from tests.support import Mailbox, api_process, smtp_server
from tests.web.conftest import PASSWORD, axe_violations, log_in
from tests.web.test_scanning import PHONE, scan

SALINE = "04012345000016"
GLOVES = "04012345000030"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


def master_data(ledger_url: str) -> Ledger:
    lg = Ledger(db.engine(ledger_url))
    with lg.session.begin() as s:
        import_master_data(s, "products", f"gtin,name,unit_price\n{SALINE},Saline 0.9%,2.50\n"
                           f"{GLOVES},Surgical gloves,0.20\n")  # fmt: skip
        import_master_data(s, "suppliers", "code,name,email\nmedline,Medline GmbH,"
                           "orders@medline.example\n")  # fmt: skip
        import_master_data(s, "supplier-products", "supplier,gtin,unit_price,pack,min_order,"
                           f"lead_time_days\nmedline,{SALINE},2.40,20,1,5\n"
                           f"medline,{GLOVES},0.18,100,1,5\n")  # fmt: skip
        for user in ("paula", "pete"):
            accounts.add_user(s, user, role="purchasing", password=PASSWORD)
        accounts.add_user(s, "mia", role="supplier", password=PASSWORD, supplier="medline")
    return lg


def config_file(tmp_path: Path, mailbox: Mailbox) -> str:
    config = tmp_path / "central.yaml"
    config.write_text(
        "supply: {s1/ward-5: s1/store}\n"
        "purchasing:\n  store: s1/store\n  buyer: City Hospital\n"
        f"  smtp: {{host: 127.0.0.1, port: {mailbox.port}, sender: buyer@city.example}}\n"
        "  tolerance: {quantity_pct: 5}\n"
    )
    return str(config)


@pytest.fixture
def purchasing_server(ledger_url: str, tmp_path: Path, mailbox: Mailbox) -> Iterator[str]:
    """The web app with a supplier (medline) selling saline and gloves, two buyers (paula,
    pete) and medline's user mia; orders are e-mailed through the local SMTP server."""
    master_data(ledger_url).engine.dispose()
    yield from api_process(
        ledger_url, tmp_path / "api.log", "--config", config_file(tmp_path, mailbox)
    )


@pytest.fixture
def proposals_server(ledger_url: str, tmp_path: Path, mailbox: Mailbox) -> Iterator[str]:
    """The same, with ten weeks of saline issued by the store to ward 5 and used there,
    up to yesterday on the wall clock (the web process proposes on it)."""
    lg = master_data(ledger_url)
    lg.clock = FixedClock(datetime.now(UTC))
    consume(lg, 70)
    lg.engine.dispose()
    yield from api_process(
        ledger_url, tmp_path / "api.log", "--config", config_file(tmp_path, mailbox)
    )


def log_out(page: Any) -> None:
    page.get_by_role("button", name="Log out").click()


def test_ordered_approved_emailed_confirmed_announced_received(
    purchasing_server: str, browser: Any, mailbox: Mailbox, tmp_path: Path
) -> None:
    base = purchasing_server
    ctx = browser.new_context(bypass_csp=True)  # for axe
    page = ctx.new_page()
    log_in(page, base, "paula")
    page.get_by_role("link", name="Purchasing", exact=True).click()
    page.get_by_role("link", name="New purchase order").click()
    page.locator("#gtin-0").select_option(SALINE)
    page.locator("#units-0").fill("3")
    page.locator("#gtin-1").select_option(GLOVES)
    page.locator("#units-1").fill("2")
    page.get_by_role("button", name="Make the draft order").click()
    assert page.get_by_test_id("status").inner_text() == "draft"
    assert "60" in page.get_by_test_id("lines").inner_text()  # 3 packs of 20
    assert page.get_by_role("button", name="Approve").count() == 0  # not one's own order
    assert axe_violations(page) == []
    order_url = page.url
    log_out(page)

    log_in(page, base, "pete")
    page.goto(order_url)
    page.get_by_role("button", name="Approve").click()
    assert page.get_by_test_id("status").inner_text() == "approved"
    page.get_by_role("button", name="Send the order").click()
    assert page.get_by_test_id("status").inner_text() == "sent"
    (mail,) = mailbox.messages
    assert mail["To"] == "orders@medline.example"
    assert {p.get_filename() for p in mail.iter_attachments()} == {
        f"{page.title().split(' ')[0]}.pdf",
        f"{page.title().split(' ')[0]}.csv",
    }
    log_out(page)

    phone = browser.new_context(**PHONE, bypass_csp=True)
    portal = phone.new_page()
    log_in(portal, base, "mia")  # a supplier's user lands on its orders
    assert portal.get_by_role("heading", name="Our orders").count() == 1
    assert portal.get_by_role("link", name="Stock").count() == 0
    portal.get_by_test_id("orders").get_by_role("link").first.click()
    portal.locator("#delivery_date").fill(wall_days(3).isoformat())
    portal.get_by_role("button", name="Confirm", exact=True).click()
    assert portal.get_by_test_id("status").inner_text() == "confirmed"
    assert portal.get_by_test_id("delivery-date").inner_text() == wall_days(3).isoformat()
    portal.locator("#notice-number").fill("DA-77")
    portal.locator("#notice-sscc").fill("040123450000000016")
    for i, (lot, qty) in enumerate((("S-1", "60"), ("G-1", "200")), start=1):
        portal.locator(f"#n-lot-{i}").fill(lot)
        portal.locator(f"#n-exp-{i}").fill(wall_days(500).isoformat())
        portal.locator(f"#n-qty-{i}").fill(qty)
    portal.get_by_role("button", name="Send the ship notice").click()
    assert "DA-77" in portal.get_by_test_id("notices").inner_text()
    assert axe_violations(portal) == []
    portal.screenshot(path=str(tmp_path / "portal-phone.png"), full_page=True)
    assert portal.goto(f"{base}/ui/stock").status == 403  # the portal is all it sees

    log_in(page, base, "sam")  # the pallet arrives: its SSCC label is scanned at receiving
    page.get_by_role("link", name="Scan").click()
    page.get_by_role("link", name="Receive by scan").click()
    page.locator("#location").fill("s1/store")
    assert "ship notice DA-77" in scan(page, "]C100040123450000000016")
    page.get_by_test_id("book").click()
    assert "Booked 260 item(s) as receipt R-" in page.get_by_test_id("done").inner_text()
    page.goto(order_url)
    assert page.get_by_test_id("status").inner_text() == "received"
    page.get_by_role("link", name="中文").click()
    assert page.get_by_test_id("status").inner_text() == "已收货"
    page.screenshot(path=str(tmp_path / "purchase-order-zh.png"), full_page=True)


def test_a_delivery_that_differs_waits_for_a_reason(
    purchasing_server: str, browser: Any, tmp_path: Path
) -> None:
    base = purchasing_server
    page = browser.new_context(bypass_csp=True).new_page()
    log_in(page, base, "paula")
    page.goto(f"{base}/ui/purchase-orders/new")
    page.locator("#gtin-0").select_option(SALINE)
    page.locator("#units-0").fill("5")
    page.get_by_role("button", name="Make the draft order").click()
    order_url = page.url
    log_out(page)
    log_in(page, base, "pete")
    page.goto(order_url)
    page.get_by_role("button", name="Approve").click()
    page.locator("#channel").select_option("manual")
    page.get_by_role("button", name="Send the order").click()
    assert page.get_by_test_id("status").inner_text() == "sent"
    log_out(page)
    log_in(page, base, "sam")
    page.goto(order_url)
    assert page.get_by_role("button", name="Approve").count() == 0
    page.get_by_label("Lot of line 1").fill("L-9")
    page.get_by_label("Expiry of line 1").fill(wall_days(400).isoformat())
    page.get_by_label("Quantity of line 1").fill("120")  # 20 % more than ordered
    page.get_by_role("button", name="Book the delivery").click()
    refused = page.get_by_test_id("variances-refused").inner_text()
    assert "expected 100, got 120" in refused and "needs acceptance" in refused
    assert page.get_by_test_id("status").inner_text() == "sent"
    page.get_by_label("Lot of line 1").fill("L-9")
    page.get_by_label("Expiry of line 1").fill(wall_days(400).isoformat())
    page.get_by_label("Quantity of line 1").fill("120")
    page.get_by_label("Accept the differences above the tolerance").check()
    page.locator("#receive-comment").fill("a whole extra case, kept")
    page.get_by_role("button", name="Book the delivery").click()
    assert page.get_by_test_id("status").inner_text() == "received"
    assert "sam" in page.get_by_test_id("variances").inner_text()
    assert axe_violations(page) == []
    page.screenshot(path=str(tmp_path / "purchase-order-variances.png"), full_page=True)
    log_out(page)
    log_in(page, base, "paula")  # what the delivery says about the supplier
    page.get_by_role("link", name="Reports").click()
    page.get_by_role("link", name="Supplier KPIs").first.click()
    figures = page.get_by_test_id("kpis-medline").inner_text()
    assert "All products\t1\t1\t0.0\t—\t100.0 %\t100.0 %" in figures  # on time, in full
    assert axe_violations(page) == []
    with page.expect_download() as got:
        page.get_by_role("link", name="Export CSV").click()
    rows = Path(got.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("supplier,supplier_name,gtin,product,orders")
    assert rows[1].startswith("medline,Medline GmbH,,,1,1,")


def test_a_proposal_is_accepted_edited_into_a_draft_order(
    proposals_server: str, browser: Any, tmp_path: Path
) -> None:
    base = proposals_server
    page = browser.new_context(bypass_csp=True).new_page()
    log_in(page, base, "sam")  # the storekeeper may change levels, not order from suppliers
    page.goto(f"{base}/ui/proposals")
    assert page.get_by_role("button", name="Propose again now").count() == 0
    log_out(page)
    log_in(page, base, "paula")
    page.get_by_role("link", name="Purchasing", exact=True).click()
    page.get_by_role("link", name="Replenishment proposals").click()
    page.get_by_role("button", name="Propose again now").click()
    assert "New proposals: 2" in page.get_by_role("status").inner_text()
    store = page.locator("form.proposal").filter(has_text="s1/store")
    assert "backtest error" in store.inner_text()
    assert axe_violations(page) == []
    page.screenshot(path=str(tmp_path / "proposals.png"), full_page=True)
    proposed_min = int(store.get_by_label("New min").input_value())
    store.get_by_label("New min").fill(str(proposed_min + 5))
    store.get_by_label("Order from medline (eaches)").fill("100")
    store.get_by_label("Comment").fill("a new ward opens next month")
    store.get_by_role("button", name="Accept").click()
    assert page.get_by_test_id("status").inner_text() == "draft"  # the order to approve
    assert "100" in page.get_by_test_id("lines").inner_text()  # five packs of 20
    assert "replenishment proposal" in page.locator("dl").inner_text()
    page.goto(f"{base}/ui/proposals")
    assert page.locator("form.proposal").filter(has_text="s1/store").count() == 0
    ward = page.locator("form.proposal").filter(has_text="s1/ward-5")
    ward.get_by_role("button", name="Reject").click()
    assert page.locator("form.proposal").count() == 0
