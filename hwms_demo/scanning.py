"""The demo's storekeeper at the scan screen: logs in to the web app, sends each scan as a
keyboard-wedge scanner types it (GS1 DataMatrix with its GS separators, or a bare EAN-13),
has the RFID label printer write a tag for one untagged item, and books the delivery, all
through the same HTTP requests the page makes. Standard library only (the demo runs on
the installed package)."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta
from http.cookiejar import CookieJar
from typing import Any

from hwms_demo.day import Day
from rules.labels import gs1_data
from rules.scan import ItemIdentity

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class ScanResult:
    outcomes: list[str]
    tag: str | None  # the EPC URI the printer wrote
    booked: str  # the page's message


class WebSession:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self.opener.addheaders = [("Accept-Language", "en")]  # the narration is English
        self.last_url = ""

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as r:
            return str(r.read().decode())

    def post(self, path: str, fields: list[tuple[str, str]]) -> str:
        data = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.base + path, data=data, timeout=60) as r:
            self.last_url = str(r.geturl())  # where a form's redirect led
            return str(r.read().decode())

    def csrf(self, path: str) -> str:
        m = _CSRF.search(self.get(path))
        if m is None:
            raise RuntimeError(f"no form on {path}")
        return m[1]

    def log_in(self, user: str, password: str) -> None:
        token = self.csrf("/login")
        self.post("/login", [("csrf", token), ("username", user), ("password", password),
                             ("next", "/")])  # fmt: skip


def codes_of(day: Day, spec: dict[str, Any], today: date) -> list[str]:
    """What the scanner types for each item of the delivery."""
    out = []
    for item in spec["scans"]:
        gtin = day.gtin(item["product"])
        if "serial" in item:
            ident = ItemIdentity(
                source="gs1", gtin=gtin, lot=str(item["lot"]), serial=str(item["serial"]),
                expiry=today + timedelta(days=int(item["expiry_days"])),
            )  # fmt: skip
            out.append("]d2" + gs1_data(ident))
        else:
            out += [gtin[1:]] * int(item.get("count", 1))  # the EAN-13 on each box
    return out


def receive_by_scan(
    base: str, user: str, password: str, day: Day, spec: dict[str, Any], today: date
) -> ScanResult:
    web = WebSession(base)
    web.log_in(user, password)
    token = web.csrf("/ui/scan/receive")
    location = f"{day.site}/{spec['location']}"
    fill = [
        (f"{key}:{day.gtin(product)}", value)
        for product, f in spec.get("fill", {}).items()
        for key, value in (("lot", str(f["lot"])),
                           ("expiry", (today + timedelta(days=int(f["expiry_days"]))).isoformat()))
    ]  # fmt: skip
    accepted: list[str] = []
    outcomes = []
    for code in codes_of(day, spec, today):
        form = [("csrf", token), ("location", location), ("number", spec["number"]),
                ("codes", "\n".join(accepted)), ("code", code), *fill]  # fmt: skip
        answer = json.loads(web.post("/ui/scan/receive/check", form))
        outcomes.append(answer["outcome"])
        if answer["outcome"] == "accepted":
            accepted.append(code)
    tag = None
    if spec.get("tag"):
        code = next(c for c in accepted if c.endswith(f"21{spec['tag']}"))
        printed = json.loads(web.post("/ui/scan-label", [("csrf", token), ("code", code)]))
        if not printed["ok"]:
            raise RuntimeError(f"the label printer: {printed['message']}")
        tag = printed["epc"]
    page = web.post("/ui/scan/receive", [("csrf", token), ("location", location),
                                         ("number", spec["number"]),
                                         ("codes", "\n".join(accepted)), ("action", "book"),
                                         *fill])  # fmt: skip
    done = re.search(r'data-testid="done">\s*(.*?)\s*<a', page, re.S)
    if done is None:
        error = re.search(r'data-testid="error">(.*?)</p>', page, re.S)
        raise RuntimeError(f"receiving by scan failed: {error[1] if error else page[:300]}")
    return ScanResult(outcomes, tag, re.sub(r"\s+", " ", done[1]))
