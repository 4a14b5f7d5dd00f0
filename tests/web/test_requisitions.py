"""The requisition workflow in Chromium, as the people do it: a nurse requests on her phone,
the ward's head approves, the storekeeper issues from the pick list (first expiry first),
the ward's gate reads the cart and the requisition is received. On both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from central import accounts, db
from central.imports import import_master_data
from central.ledger import Ledger, ReceiptLine
from central.vocab import Role
from rules.events import Batch, BatchMovement, Direction, stamp
from tests.conftest import wall_days
from tests.support import api_process
from tests.web.conftest import PASSWORD, axe_violations, log_in
from tests.web.test_scanning import PHONE

GLOVES = "04012345000030"
CONFIG = """
supply: {s1/ward-5: s1/store}
requisitions:
  bookings: [{kinds: [scrap, loss], role: head}]
"""


def gloves(serials: range) -> list[str]:
    return [f"urn:epc:id:sgtin:4012345.000003.{n}" for n in serials]


@pytest.fixture
def workflow_server(ledger_url: str, tmp_path: Path) -> Iterator[str]:
    """The web app with the store supplying ward 5, two lots of gloves in the store (the
    one that expires first has fewer), and hana, the head of ward 5."""
    lg = Ledger(db.engine(ledger_url))
    with lg.session.begin() as s:
        import_master_data(s, "products", f"gtin,name\n{GLOVES},Surgical gloves\n")
        accounts.add_user(s, "hana", role="head", password=PASSWORD, departments=["ward-5"])
    lines = [ReceiptLine(epc=e, gtin=GLOVES, lot="LATE", expiry=wall_days(400),
                         location="s1/store") for e in gloves(range(1, 6))]  # fmt: skip
    lines += [ReceiptLine(epc=e, gtin=GLOVES, lot="SOON", expiry=wall_days(60),
                          location="s1/store") for e in gloves(range(10, 12))]  # fmt: skip
    lg.receive(lines, actor="t")
    lg.engine.dispose()
    config = tmp_path / "central.yaml"
    config.write_text(CONFIG)
    yield from api_process(ledger_url, tmp_path / "api.log", "--config", str(config))


def test_nurse_requests_on_a_phone_head_approves_store_issues_gate_receives(
    workflow_server: str, browser: Any, ledger_url: str, tmp_path: Path
) -> None:
    base = workflow_server
    nurse = browser.new_context(**PHONE, bypass_csp=True)  # for axe
    page = nurse.new_page()
    log_in(page, base, "anna")
    page.get_by_role("link", name="Requisitions").click()
    page.get_by_role("link", name="New requisition").click()
    assert axe_violations(page) == []
    page.get_by_label("Deliver to").select_option("s1/ward-5")
    page.get_by_label("Product 1").select_option(label="Surgical gloves · each")
    page.get_by_label("Quantity 1").fill("4")
    page.get_by_label("Priority").select_option("urgent")
    page.get_by_label("Note").fill("theatre list tomorrow")
    page.get_by_role("button", name="Send the requisition").click()
    assert page.get_by_test_id("status").inner_text() == "submitted"
    assert page.locator("main").get_by_text("head", exact=True).count() >= 1
    assert page.get_by_role("button", name="Approve").count() == 0  # not hers to approve
    url = page.url
    nurse_width = page.evaluate("() => document.documentElement.scrollWidth")
    assert nurse_width <= 390 + 1, "the request page fits the phone"
    page.screenshot(path=str(tmp_path / "requisition-phone.png"), full_page=True)

    head = browser.new_context(locale="en-GB").new_page()
    log_in(head, base, "hana")
    head.goto(url)
    head.get_by_label("Comment").first.fill("fine")
    head.get_by_role("button", name="Approve").click()
    assert head.get_by_test_id("status").inner_text() == "approved"

    store = browser.new_context(locale="en-GB", bypass_csp=True).new_page()
    log_in(store, base, "sam")
    store.goto(f"{base}/ui/requisitions")
    store.get_by_role("link", name=f"#{url.rsplit('/', 1)[1]}").click()
    rows = store.locator("#h-pick + form tbody tr")
    assert [r.inner_text().split("\t")[1] for r in rows.all()] == ["SOON", "LATE"]  # FEFO
    assert store.get_by_label("Issue of lot SOON").input_value() == "2"
    assert store.get_by_label("Issue of lot LATE").input_value() == "2"
    assert axe_violations(store) == []
    store.screenshot(path=str(tmp_path / "requisition-pick-list.png"), full_page=True)
    store.get_by_role("button", name="Issue", exact=True).click()
    assert store.get_by_test_id("status").inner_text() == "issued"

    # the porter's cart through ward 5's door: the gate reads it (as the edge sends it) and
    # the ledger's schedule sees the items arrive
    lg = Ledger(db.engine(ledger_url))
    picked = lg.requisition(accounts.Principal("sam", Role.STOREKEEPER),
                            int(url.rsplit("/", 1)[1]))["picks"]  # fmt: skip
    t = int(datetime.now(UTC).timestamp() * 1e6)
    for seq, lot in enumerate(("LATE", "SOON"), start=1):
        epcs = tuple(p["epc"] for p in picked if p["lot"] == lot)
        e = BatchMovement(
            occurred_at_us=t, read_point="ward-5-door", direction=Direction.IN,
            from_zone="corridor", to_zone="ward-5", biz_step="receiving",
            batch=Batch(gtin=GLOVES, lot=lot), quantity=len(epcs), epcs=epcs, first_seen_us=t,
            last_seen_us=t, confidence=1.0, uncommissioned=False,
        )  # fmt: skip
        assert lg.apply(stamp(e, site="s1", gateway="gw-ward", seq=seq))
    assert lg.watch_requisitions() == 1
    lg.engine.dispose()
    page.reload()
    assert page.get_by_test_id("status").inner_text() == "received"
    assert "s1/gw-ward" in page.locator("ol.history").inner_text() or "gw-ward" in (
        page.locator("ol.history").inner_text())  # fmt: skip
    assert page.get_by_role("button", name="Confirm receipt").count() == 0


def test_refusals_on_the_screen_say_why(workflow_server: str, browser: Any, tmp_path: Path) -> None:
    base = workflow_server
    page = browser.new_context(locale="en-GB").new_page()
    log_in(page, base, "anna")
    page.goto(f"{base}/ui/requisitions/new")
    page.get_by_label("Product 1").select_option(label="Surgical gloves · each")
    page.get_by_label("Quantity 1").fill("0")
    page.get_by_role("button", name="Send the requisition").click()
    assert "lines[0].quantity: between 1" in page.get_by_role("alert").inner_text()
    page.get_by_label("Product 1").select_option(label="Surgical gloves · each")
    page.get_by_label("Quantity 1").fill("3")
    page.get_by_role("button", name="Send the requisition").click()
    rid = page.url.rsplit("/", 1)[1]
    # a nurse posting an approval anyway (the page shows her no button): refused by the server
    csrf = page.locator("input[name=csrf]").first.input_value()
    answer = page.request.post(f"{base}/ui/requisitions/{rid}/approve",
                               form={"csrf": csrf, "comment": ""})  # fmt: skip
    assert answer.status == 403 and "may not approve" in answer.text()
    storekeeper = browser.new_context(locale="en-GB").new_page()
    log_in(storekeeper, base, "sam")
    storekeeper.goto(f"{base}/ui/requisitions/{rid}")
    assert storekeeper.get_by_role("button", name="Issue", exact=True).count() == 0  # unapproved
    csrf = storekeeper.locator("input[name=csrf]").first.input_value()
    answer = storekeeper.request.post(f"{base}/ui/requisitions/{rid}/issue", form={"csrf": csrf})
    assert answer.status == 409 and "submitted requisition cannot be issued" in answer.text()
    zh = browser.new_context(locale="zh-CN").new_page()
    log_in(zh, base, "hana")
    zh.goto(f"{base}/ui/requisitions/{rid}")
    assert zh.get_by_test_id("status").inner_text() == "已提交"
    zh.screenshot(path=str(tmp_path / "requisition-zh.png"), full_page=True)
    assert zh.get_by_role("button", name="批准").count() == 1


def test_a_scrap_waits_for_the_heads_approval_on_the_list(
    workflow_server: str, browser: Any, ledger_url: str, tmp_path: Path
) -> None:
    from central.config import BookingApprovalConfig, RequisitionConfig
    from tests.central.test_ledger import epcs

    rules = RequisitionConfig(bookings=(BookingApprovalConfig(kinds=("scrap",), role="head"),))
    lg = Ledger(db.engine(ledger_url), requisitions=rules)
    anna = accounts.Principal("anna", Role.NURSE, departments=frozenset({"ward-5"}))
    asked = lg.request_booking(anna, "scrap", location="s1/ward-5", reason="dropped",
                               epcs=epcs(2, 50)[:1])  # as the API does for her  # fmt: skip
    assert asked["booked"] == 0
    page = browser.new_context(locale="en-GB", bypass_csp=True).new_page()
    log_in(page, workflow_server, "hana")
    page.goto(f"{workflow_server}/ui/requisitions")
    assert page.title().startswith("Requisitions")
    waiting = page.locator("#h-waiting + div tbody tr")
    assert waiting.count() == 1 and "dropped" in waiting.inner_text()
    assert axe_violations(page) == []
    page.screenshot(path=str(tmp_path / "bookings-waiting.png"), full_page=True)
    waiting.locator("input[name=comment]").first.fill("saw the broken vial")  # signed: why
    waiting.locator("input[name=password]").fill("not hana's")
    page.get_by_role("button", name="Approve and sign").click()
    assert "the password is not right" in page.locator("main").inner_text()
    page.goto(f"{workflow_server}/ui/requisitions")
    waiting.locator("input[name=comment]").first.fill("saw the broken vial")
    waiting.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Approve and sign").click()
    assert page.locator("#h-waiting").count() == 0
    assert sum(r["quantity"] for r in lg.stock("s1/ward-5")) == 1
    lg.engine.dispose()
