"""Printed documents: a delivery's goods-received note (after booking, and from the list
of receipts) and the pick list of the open transport orders, first expiring first, what
the store lacks marked; both print without the screen's navigation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from central import db
from central.ledger import Ledger
from central.models import TransportOrder
from tests.central.test_ledger import epcs
from tests.central.test_operations import GTIN
from tests.conftest import wall_days
from tests.web.conftest import axe_violations, log_in


def test_goods_received_note_after_booking(server: str, browser: Any, tmp_path: Path) -> None:
    delivery = tmp_path / "delivery.csv"
    rows = [f"{e},{GTIN},G1,{wall_days(300)},s1/store,1,ACME" for e in epcs(3, 900)]
    rows.append(f",{GTIN},G2,{wall_days(200)},s1/store,12,ACME")  # untagged
    delivery.write_text("epc,gtin,lot,expiry,location,quantity,supplier\n" + "\n".join(rows))
    context = browser.new_context(locale="en-GB", bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "sam")
    page.get_by_role("link", name="Receiving").click()
    page.locator("#file").set_input_files(str(delivery))
    page.get_by_role("button", name="Check").click()
    page.locator("#number").fill("DN 77/2026")
    page.get_by_role("button", name="Book the delivery").click()
    page.get_by_role("link", name="Goods-received note").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Goods-received note DN 77/2026"
    assert page.get_by_test_id("items").inner_text() == "15"
    lines = page.get_by_test_id("lines").locator("tbody tr")
    assert lines.count() == 2
    assert "G1" in lines.nth(0).inner_text() and lines.nth(0).locator("td").last.inner_text() == "3"
    assert "ACME" in lines.nth(1).inner_text() and "12" in lines.nth(1).inner_text()
    assert axe_violations(page) == []
    page.emulate_media(media="print")
    assert page.locator("header.bar").is_hidden()
    assert page.pdf(format="A4")[:4] == b"%PDF"
    page.emulate_media(media="screen")
    page.goto(f"{server}/ui/receipts")
    assert "DN 77/2026" in page.get_by_test_id("receipts").inner_text()
    assert axe_violations(page) == []
    response = page.goto(f"{server}/ui/receipts/note?number=NOPE")
    assert response is not None and response.status == 404
    context.close()


def test_pick_list_first_expiring_first(server: str, ledger_url: str, browser: Any) -> None:
    lg = Ledger(db.engine(ledger_url))
    now = datetime.now(UTC)
    with lg.session.begin() as s:  # the store holds 3 of lot L1; two orders want 2 each
        for i in (1, 2):
            s.add(TransportOrder(id=f"TO-{i}", alert_id=None, source="s1/store",
                                 destination="s1/ward-5", gtin=GTIN, quantity=2, adapter="log",
                                 state="sent", created_at=now))  # fmt: skip
        s.add(TransportOrder(id="TO-old", alert_id=None, source="s1/store", destination="s1/or",
                             gtin=GTIN, quantity=9, adapter="log", state="delivered",
                             created_at=now))  # fmt: skip
    lg.engine.dispose()
    context = browser.new_context(locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "sam")
    page.goto(f"{server}/ui/pick-list")
    rows = page.get_by_test_id("picks").locator("tbody tr")
    assert rows.count() == 2  # the delivered order is not picked again
    assert "L1" in rows.nth(0).inner_text() and " · 2" in rows.nth(0).inner_text()
    assert " · 1" in rows.nth(1).inner_text() and "库房缺 1" in rows.nth(1).inner_text()
    assert axe_violations(page) == []
    context.close()

    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    log_in(page, server, "anna")  # a nurse does not pick in the store
    page.goto(f"{server}/ui/pick-list")
    assert "Your role may not do this." in page.content()
    context.close()
