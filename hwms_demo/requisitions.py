"""The demo's ward and store at the requisition screens: the nurse requests, the head
approves, the storekeeper issues what the pick list suggests (first expiry first), each
logged in to the web app and sending the forms a browser sends. Standard library only."""

from __future__ import annotations

import re
import time
import urllib.error
from typing import Any

from hwms_demo.day import Day
from hwms_demo.scanning import WebSession

_STATUS = re.compile(r'data-testid="status">([^<]+)<')
_PICK = re.compile(r'name="pick" value="([^"]+)"><input name="count" value="(\d+)"')
WAIT_FOR_STOCK_S = 20.0
_ERROR = re.compile(r'class="error" role="alert">([^<]+)<')


def _post(web: WebSession, path: str, fields: list[tuple[str, str]]) -> str:
    """The page a form leads to; a refusal (4xx) as the error the page shows."""
    try:
        return web.post(path, fields)
    except urllib.error.HTTPError as exc:
        page = exc.read().decode(errors="replace")
        found = _ERROR.search(page)
        raise RuntimeError(f"{path}: {found[1] if found else exc}") from None


def _status(page: str) -> str:
    error = _ERROR.search(page)
    if error:
        raise RuntimeError(f"requisition refused: {error[1]}")
    found = _STATUS.search(page)
    if found is None:
        raise RuntimeError(f"no requisition page: {page[:300]}")
    return found[1]


def request(base: str, user: str, password: str, day: Day, spec: dict[str, Any]) -> int:
    """A new requisition from the request form; its number."""
    web = WebSession(base)
    web.log_in(user, password)
    token = web.csrf("/ui/requisitions/new")
    fields = [
        ("csrf", token),
        ("to_location", f"{day.site}/{spec['to']}"),
        ("priority", spec.get("priority", "routine")),
        ("note", spec.get("note", "")),
    ]
    for line in spec["lines"]:
        fields += [("gtin", day.gtin(line["product"])), ("quantity", str(line["quantity"]))]
    _status(_post(web, "/ui/requisitions", fields))
    return int(web.last_url.rsplit("/", 1)[1])


def approve(base: str, user: str, password: str, number: int) -> str:
    web = WebSession(base)
    web.log_in(user, password)
    token = web.csrf(f"/ui/requisitions/{number}")
    return _status(_post(web, f"/ui/requisitions/{number}/approve",
                            [("csrf", token), ("comment", "approved")]))  # fmt: skip


def issue(base: str, user: str, password: str, number: int) -> tuple[str, list[tuple[str, int]]]:
    """Issue what the pick list suggests; the status and the lots with their quantities."""
    web = WebSession(base)
    web.log_in(user, password)
    deadline = time.monotonic() + WAIT_FOR_STOCK_S
    while True:  # the delivery may still be on its way into the ledger: wait for it, bounded
        page = web.get(f"/ui/requisitions/{number}")
        picks = [(key, int(n)) for key, n in _PICK.findall(page) if int(n)]
        if picks or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    token = web.csrf(f"/ui/requisitions/{number}")
    fields = [("csrf", token)]
    for key, n in picks:
        fields += [("pick", key), ("count", str(n)), ("why", "")]
    status = _status(_post(web, f"/ui/requisitions/{number}/issue", fields))
    return status, [(key.partition("|")[2], n) for key, n in picks]
