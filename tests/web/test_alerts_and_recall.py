"""Alerts and recalls in the browser: the inbox within scope, acknowledging with a
comment, locking a batch with a reason (quality only, also refused on a forged post)."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from tests.central.test_operations import GTIN
from tests.web.conftest import PASSWORD, axe_violations, log_in


def test_acknowledge_an_alert_and_lock_a_batch(server: str, browser: Any) -> None:
    context = browser.new_context(locale="en-GB", bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "anna")  # ward 5: the store's expiry alert is not hers
    page.goto(f"{server}/ui/alerts")
    assert page.locator("ul.alerts li").count() == 0
    page.goto(f"{server}/ui/batches?gtin={GTIN}&lot=L1")
    assert page.locator("form[action='/ui/batches/lock']").count() == 0  # a nurse cannot
    assert page.locator("section.card table").first.locator("tbody tr").count() == 0  # store's
    context.close()

    context = browser.new_context(locale="en-GB", bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "sam")
    page.goto(f"{server}/ui/alerts")
    alert = page.locator("ul.alerts li").first
    assert "expires on" in alert.inner_text()
    alert.locator("input[name=comment]").fill("moved to the front of the shelf")
    alert.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(f"{server}/ui/alerts")
    assert (
        "Acknowledged by sam: moved to the front of the shelf"
        in page.locator("ul.alerts li").first.inner_text()
    )
    assert axe_violations(page) == []
    context.close()

    context = browser.new_context(locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "quinn")
    page.goto(f"{server}/ui/batches?gtin={GTIN}&lot=L1")
    page.locator("#reason").fill("supplier recall R-2026-11")
    page.locator("#lock-password").fill(PASSWORD)  # signed
    page.get_by_role("button", name="锁定批次（召回）").click()
    assert "已锁定" in page.locator("section.card h2").inner_text()
    assert page.get_by_role("link", name=f"{GTIN} · L1").count() == 1
    assert axe_violations(page) == []
    context.close()


def test_a_nurse_cannot_lock_a_batch_by_posting(server: str) -> None:
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("Accept-Language", "en")]
    with opener.open(f"{server}/login", timeout=10) as r:
        match = re.search(r'name="csrf" value="([^"]+)"', r.read().decode())
    assert match is not None
    csrf = match.group(1)
    body = {"username": "anna", "password": "correct horse battery", "csrf": csrf}
    opener.open(f"{server}/login", urllib.parse.urlencode(body).encode(), timeout=10).close()
    with opener.open(f"{server}/", timeout=10) as r:  # the logged-in session's own token
        match = re.search(r'name="csrf" value="([^"]+)"', r.read().decode())
    assert match is not None
    lock = {
        "gtin": GTIN,
        "lot": "L1",
        "reason": "just because",
        "password": PASSWORD,
        "csrf": match.group(1),
    }
    try:
        opener.open(f"{server}/ui/batches/lock", urllib.parse.urlencode(lock).encode(), timeout=10)
        raise AssertionError("a nurse locked a batch")
    except urllib.error.HTTPError as exc:
        assert exc.code == 403
        assert "Your role may not do this." in exc.read().decode()


def test_a_new_alert_appears_on_an_open_dashboard(
    server: str, second_server: str, browser: Any
) -> None:
    """Quality locks a batch in one browser, on another web process; the storekeeper's
    open dashboard shows the new critical alert without a reload, within 2 s."""
    import time

    from playwright.sync_api import expect

    watching = browser.new_context(locale="en-GB")
    page = watching.new_page()
    log_in(page, server, "sam")
    page.wait_for_url(f"{server}/")
    critical = page.get_by_test_id("alerts-critical")
    before = int(critical.inner_text())
    page.wait_for_timeout(1200)  # the event stream is open and has its first mark
    page.evaluate("window.stillTheSamePage = true")

    acting = browser.new_context(locale="en-GB")
    other = acting.new_page()
    log_in(other, second_server, "quinn")
    other.goto(f"{second_server}/ui/batches?gtin={GTIN}&lot=L1")
    other.locator("#reason").fill("supplier recall R-2026-12")
    other.locator("#lock-password").fill(PASSWORD)  # signed
    other.get_by_role("button", name="Lock the batch (recall)").click()
    locked_at = time.monotonic()
    expect(critical).to_have_text(str(before + 1), timeout=2000)
    print(f"\nnew critical alert on the open dashboard after {time.monotonic() - locked_at:.2f} s")
    assert page.evaluate("window.stillTheSamePage === true")  # updated in place, not reloaded
    acting.close()
    watching.close()


def test_the_dashboard_counts_within_scope(server: str, browser: Any) -> None:
    """The store's expiry alert and its near-expiry line count for the storekeeper, not for
    the ward 5 nurse."""
    seen = {}
    for user in ("sam", "anna"):
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        log_in(page, server, user)
        page.wait_for_url(f"{server}/")
        lines = page.locator("#t-expiry ~ p").last.inner_text().split()[0]
        departments = page.get_by_test_id("departments")
        rows = departments.locator("tbody tr").all_inner_texts() if departments.count() else []
        seen[user] = (int(page.get_by_test_id("alerts-info").inner_text()), int(lines), rows)
        context.close()
    assert seen["sam"][0] >= 1 and seen["anna"][0] == 0
    assert seen["anna"][1] == seen["sam"][1] - 1  # the store's batch line is not hers
    # per department: the store has none on file ("–"); its near-expiry line is not hers
    assert [r.split("\t")[0] for r in seen["sam"][2]] == ["–"]
    assert seen["anna"][2] == []


def test_the_inbox_updates_itself_speaks_chinese_and_keeps_the_history(
    server: str, browser: Any
) -> None:
    """A recall lock appears in the storekeeper's open inbox without a reload, its message
    in Chinese; unlocked, the alert is cleared and found under the history."""
    from playwright.sync_api import expect

    watching = browser.new_context(locale="zh-CN", bypass_csp=True)  # for axe
    page = watching.new_page()
    log_in(page, server, "sam")
    page.goto(f"{server}/ui/alerts")
    page.wait_for_timeout(1200)  # the event stream is open and has its first mark
    before = page.locator("ul.alerts li").count()

    acting = browser.new_context(locale="en-GB")
    other = acting.new_page()
    log_in(other, server, "quinn")
    other.goto(f"{server}/ui/batches?gtin={GTIN}&lot=L1")
    other.locator("#reason").fill("supplier recall R-2026-12")
    other.locator("#lock-password").fill(PASSWORD)  # signed
    other.get_by_role("button", name="Lock the batch (recall)").click()
    expect(page.locator("ul.alerts li")).to_have_count(before + 1, timeout=3000)
    newest = page.locator("ul.alerts li").first.inner_text()
    assert f"批次 {GTIN} 批号 L1 已被 quinn 锁定（召回）" in newest
    assert axe_violations(page) == []

    other.goto(f"{server}/ui/batches?gtin={GTIN}&lot=L1")
    other.locator("#reason").fill("recall withdrawn by the supplier")
    other.locator("#lock-password").fill(PASSWORD)  # signed
    other.get_by_role("button", name="Unlock the batch").click()
    page.goto(f"{server}/ui/alerts?view=history")
    history = page.locator("ul.alerts").inner_text()
    assert "已被 quinn 锁定" in history and "解除于" in history
    assert axe_violations(page) == []
    acting.close()
    watching.close()
