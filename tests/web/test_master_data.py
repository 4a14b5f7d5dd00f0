"""Master data by hand: an admin edits a product and adds a limit in forms that obey the
same checks as a file (a wrong GTIN is refused with its reason), adds a login with a role
and scope and disables it; the edits are audited; a storekeeper may do none of it, also
by a forged post."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from central import db
from central.ledger import Ledger
from central.models import AuditLog, Product
from tests.central.test_operations import GTIN
from tests.web.conftest import PASSWORD, axe_violations, log_in


def test_an_admin_edits_records_and_logins(server: str, ledger_url: str, browser: Any) -> None:
    context = browser.new_context(locale="en-GB", bypass_csp=True)  # for axe
    page = context.new_page()
    log_in(page, server, "ada")
    page.get_by_role("link", name="Master data").click()
    page.get_by_role("link", name="products", exact=True).click()
    page.get_by_role("link", name="Add").click()
    assert axe_violations(page) == []  # the form
    page.locator("#f-gtin").fill("04012345000017")  # wrong check digit
    page.locator("#f-name").fill("Saline 0.9% 500 ml")
    page.get_by_role("button", name="Save").click()
    assert "is not a valid GTIN" in page.get_by_role("alert").inner_text()
    page.locator("#f-gtin").fill(GTIN)
    page.locator("#f-unit_price").fill("2.75")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("status").inner_text() == f"Saved: {GTIN}"
    row = page.get_by_test_id("records").locator("tbody tr").first.inner_text()
    assert "Saline 0.9% 500 ml" in row and "2.75" in row
    assert axe_violations(page) == []
    page.get_by_role("link", name=f"Edit {GTIN}").click()
    assert page.locator("#f-gtin").get_attribute("readonly") is not None
    page.locator("#f-name").fill("Saline 0.9%, 500 ml bag")
    page.get_by_role("button", name="Save").click()
    assert "500 ml bag" in page.get_by_test_id("records").inner_text()

    page.get_by_role("link", name="limits", exact=True).click()
    page.get_by_role("link", name="Add").click()
    for field, value in (("location", "s1/ward-5"), ("gtin", GTIN), ("min", "10"), ("max", "4")):
        page.locator(f"#f-{field}").fill(value)
    page.get_by_role("button", name="Save").click()
    assert "do not make sense" in page.get_by_role("alert").inner_text()
    page.locator("#f-max").fill("40")
    page.get_by_role("button", name="Save").click()
    assert "s1/ward-5" in page.get_by_test_id("records").inner_text()

    page.get_by_role("link", name="Logins and roles").click()
    page.locator("#user").fill("hana")
    page.locator("#role").select_option("head")
    page.locator("#departments").fill("ward-5")
    page.locator("#password").fill("a long first password")
    page.get_by_role("button", name="Add", exact=True).click()
    logins = page.get_by_test_id("logins").inner_text()
    assert "hana\thead\tall\tward-5\tactive" in logins
    assert axe_violations(page) == []
    page.get_by_role("button", name="Disable hana").click()
    assert "hana\thead\tall\tward-5\tdisabled" in page.get_by_test_id("logins").inner_text()
    context.close()

    lg = Ledger(db.engine(ledger_url))
    with lg.session() as s:
        product = s.get(Product, GTIN)
        assert product is not None and product.name == "Saline 0.9%, 500 ml bag"
        actions = list(s.scalars(select(AuditLog.action).where(AuditLog.actor == "ada")))
    assert actions.count("import products") == 2 and "import limits" in actions
    assert "add login" in actions and "disable login" in actions


def test_a_storekeeper_may_not_edit_master_data(server: str) -> None:
    with httpx.Client(base_url=server, follow_redirects=True) as http:
        form = http.get("/login").text
        csrf = form.split('name="csrf" value="')[1].split('"')[0]
        http.post("/login", data={"username": "sam", "password": PASSWORD, "csrf": csrf})
        assert http.get("/ui/master-data/products").status_code == 403
        forged = http.post("/ui/master-data/products/edit",
                           data={"gtin": GTIN, "name": "forged", "csrf": csrf})  # fmt: skip
        assert forged.status_code == 403
        forged = http.post("/ui/users", data={"user": "evil", "role": "admin", "password":
                                              "x" * 12, "csrf": csrf})  # fmt: skip
        assert forged.status_code == 403
