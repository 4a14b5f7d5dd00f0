"""The web app in Debian's chromium, driven by Playwright the way a person uses it: log in,
switch language, log out, on a phone and on a desk screen; axe-core on every page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import PASSWORD, axe_violations, log_in


@pytest.mark.parametrize(
    ("viewport", "locale"),
    [({"width": 390, "height": 844}, "zh-CN"), ({"width": 1920, "height": 1080}, "en-GB")],
    ids=["phone-zh", "desk-en"],
)
def test_log_in_switch_language_log_out(
    server: str, browser: Any, tmp_path: Path, viewport: dict[str, int], locale: str
) -> None:
    context = browser.new_context(viewport=viewport, locale=locale, bypass_csp=True)  # for axe
    page = context.new_page()
    chinese = locale.startswith("zh")
    page.goto(f"{server}/")
    assert page.url.startswith(f"{server}/login")  # no page without a session
    assert page.locator("html").get_attribute("lang") == ("zh-CN" if chinese else "en")
    assert page.locator("#username").get_attribute("autocomplete") == "username"
    assert page.locator("#password").get_attribute("autocomplete") == "current-password"
    assert axe_violations(page) == []
    page.screenshot(path=str(tmp_path / f"login-{locale}.png"), full_page=True)

    log_in(page, server, "anna", "not the password")
    assert page.get_by_role("alert").inner_text() == (
        "用户名或密码错误。" if chinese else "Wrong user name or password."
    )
    log_in(page, server, "anna")
    page.wait_for_url(f"{server}/")
    assert page.get_by_role("heading", level=1).inner_text() == ("总览" if chinese else "Dashboard")
    assert page.get_by_test_id("moved-today").inner_text().isdigit()
    assert "anna" in page.locator(".who").inner_text()
    assert axe_violations(page) == []
    wide = page.evaluate("document.scrollingElement.scrollWidth")
    assert wide <= viewport["width"], f"horizontal scrolling: {wide} px"
    page.screenshot(path=str(tmp_path / f"dashboard-{locale}.png"), full_page=True)

    page.get_by_role("link", name="English" if chinese else "中文").click()
    assert page.get_by_role("heading", level=1).inner_text() == ("Dashboard" if chinese else "总览")
    page.locator("form[action='/logout'] button").click()
    page.wait_for_url(f"{server}/login")
    page.goto(f"{server}/")
    assert page.url.startswith(f"{server}/login")  # logged out for good
    context.close()


def test_forms_need_their_csrf_token_and_logins_are_throttled(server: str) -> None:
    """A post without the session's token is refused; five wrong passwords lock the user
    for a while, whatever the sixth password is."""
    import http.cookiejar
    import re
    import urllib.error
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def post(data: dict[str, str]) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode()
        try:
            with opener.open(f"{server}/login", body, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    assert post({"username": "sam", "password": PASSWORD, "csrf": "forged"})[0] == 403
    with opener.open(f"{server}/login", timeout=10) as r:
        csrf = re.search(r'name="csrf" value="([^"]+)"', r.read().decode())
    assert csrf is not None
    token = csrf.group(1)
    for _ in range(5):
        assert post({"username": "sam", "password": "wrong one", "csrf": token})[0] == 401
    status, text = post({"username": "sam", "password": PASSWORD, "csrf": token})
    assert status == 429, text
    json.dumps(text)  # a page, not a crash


def test_after_login_only_paths_on_this_site() -> None:
    from central.web import _safe_next

    assert _safe_next("/ui/stock?q=x") == "/ui/stock?q=x"
    for evil in ("//evil.example/", "/\\evil.example", "https://evil.example", "ui", "/a\nb"):
        assert _safe_next(evil) == "/", evil


def test_a_user_changes_her_password(server: str, browser: Any) -> None:
    context = browser.new_context(locale="en-GB", bypass_csp=True)  # for axe
    page = context.new_page()
    log_in(page, server, "anna")
    page.locator("a.who").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Change password"
    assert axe_violations(page) == []
    page.locator("#current").fill(PASSWORD)
    page.locator("#new").fill("a brand new passphrase")
    page.locator("#repeat").fill("a brand new passphrase, typo")
    page.get_by_role("button", name="Change password").click()
    assert page.get_by_role("alert").inner_text() == "The new passwords differ."
    page.locator("#current").fill("not it at all")
    page.locator("#new").fill("a brand new passphrase")
    page.locator("#repeat").fill("a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    assert "current password is wrong" in page.get_by_role("alert").inner_text()
    page.locator("#current").fill(PASSWORD)
    page.locator("#new").fill("a brand new passphrase")
    page.locator("#repeat").fill("a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    assert page.get_by_test_id("password-changed").count() == 1
    page.locator("form[action='/logout'] button").click()
    log_in(page, server, "anna")
    assert page.get_by_role("alert").inner_text() == "Wrong user name or password."
    log_in(page, server, "anna", "a brand new passphrase")
    page.wait_for_url(f"{server}/")
    context.close()
