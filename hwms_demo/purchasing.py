"""The demo's purchasing: twelve weeks of syringe use behind the central store (so that the
ledger has a history to forecast), the ledger's overnight proposals, then during the day the
buyer accepts the store's proposal, the director approves, the buyer sends the order, and
the supplier's user confirms it and announces the shipment in the portal, each at the web
app's forms as a browser sends them. The delivery itself crosses the store's door (the LLRP
portal) and books itself against the ship notice. Standard library only, besides the
ledger for the history."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hwms_demo.day import Day
from hwms_demo.requisitions import _post
from hwms_demo.scanning import WebSession

HISTORY_DAYS = 84
LEFT_IN_STORE = 12  # what the store holds of the product when the day starts
_STATUS = re.compile(r'data-testid="status">([^<]+)<')
_PROPOSAL = re.compile(
    r'<form method="post" action="/ui/proposals/(\d+)/accept"[^>]*>\s*<h3[^>]*>([^<]+)</h3>'
)
_ERROR = re.compile(r'class="error" role="alert"><p>([^<]+)<')


def seed_history(ledger: Any, day: Day, product: str, today: date) -> int:
    """Twelve weeks of the central store issuing `product` to ward 5 and the ward using it,
    booked by scan on those days (about 8 a weekday, 2 a weekend day); the store keeps
    LEFT_IN_STORE. Returns how many were used."""
    from central.clock import FixedClock
    from central.ledger import ReceiptLine, ScanPurpose

    gtin, site = day.gtin(product), day.site
    wanted = [8 if (today - timedelta(days=d)).weekday() < 5 else 2
              for d in range(HISTORY_DAYS, 0, -1)]  # fmt: skip
    wanted = [n + (i * 7) % 3 - 1 for i, n in enumerate(wanted)]  # not every day alike
    clock = FixedClock(datetime.combine(today - timedelta(days=HISTORY_DAYS + 1), time(7), UTC))
    wall, ledger.clock = ledger.clock, clock
    expiry = today + timedelta(days=600)
    ledger.receive([ReceiptLine(epc="", gtin=gtin, lot="SY2609", expiry=expiry,
                                location=f"{site}/central_store",
                                quantity=sum(wanted) + LEFT_IN_STORE)],
                   actor="storekeeper-1", today=clock.today())  # fmt: skip
    code = f"(01){gtin}(17){expiry:%y%m%d}(10)SY2609"
    for n in wanted:
        clock.advance(timedelta(days=1))
        if n:
            ledger.move_scans(ScanPurpose.ISSUE, [code] * n, location=f"{site}/central_store",
                              user="storekeeper-1", to_location=f"{site}/ward-5")  # fmt: skip
            ledger.move_scans(ScanPurpose.DISPENSE, [code] * n, location=f"{site}/ward-5",
                              user="nurse-7", case_id="ward-5")  # fmt: skip
    ledger.clock = wall
    return sum(wanted)


def _page(web: WebSession, path: str, fields: list[tuple[str, str]]) -> str:
    page = _post(web, path, fields)
    error = _ERROR.search(page)
    if error:
        raise RuntimeError(f"{path}: {error[1]}")
    return page


def _status(page: str) -> str:
    found = _STATUS.search(page)
    if found is None:
        raise RuntimeError(f"no purchase order page: {page[:300]}")
    return found[1]


def accept_proposal(base: str, user: str, password: str, name: str, location: str) -> int:
    """Accept, as proposed, the open proposal for product `name` at `location`; returns
    the draft purchase order it made."""
    web = WebSession(base)
    web.log_in(user, password)
    page = web.get("/ui/proposals")
    found = [pid for pid, title in _PROPOSAL.findall(page)
             if title.startswith(name) and title.endswith(location)]  # fmt: skip
    if not found:
        raise RuntimeError(f"no proposal for {name} at {location}")
    token = web.csrf("/ui/proposals")
    _page(web, f"/ui/proposals/{found[0]}/accept",
          [("csrf", token), ("comment", "as proposed")])  # fmt: skip
    if "/ui/purchase-orders/" not in web.last_url:
        raise RuntimeError("the accepted proposal made no purchase order")
    return int(web.last_url.rsplit("/", 1)[1])


def act(base: str, user: str, password: str, order: int, action: str,
        fields: list[tuple[str, str]]) -> str:  # fmt: skip
    """One form of the order's page; the order's status after it."""
    web = WebSession(base)
    web.log_in(user, password)
    token = web.csrf(f"/ui/purchase-orders/{order}")
    return _status(_page(web, f"/ui/purchase-orders/{order}/{action}", [("csrf", token), *fields]))


def announce(base: str, user: str, password: str, order: int, spec: dict[str, Any],
             gtin: str, count: int, today: date) -> str:  # fmt: skip
    """The supplier confirms tomorrow and sends the ship notice with every item's EPC."""
    from readers.gate_stream import make_epcs
    from rules.epc import decode, gs1_check_digit

    act(base, user, password, order, "confirm",
        [("delivery_date", (today + timedelta(days=1)).isoformat()),
         ("comment", "on tomorrow's tour")])  # fmt: skip
    epcs = [decode(e).uri for e in make_epcs(gtin, int(spec["first_serial"]), count, 7)]
    body = f"0{gtin[1:8]}{int(spec['sscc_serial']):09d}"
    fields = [
        ("number", spec["number"]), ("sscc", body + gs1_check_digit(body)), ("gtin", gtin),
        ("lot", spec["lot"]),
        ("expiry", (today + timedelta(days=int(spec["expiry_days"]))).isoformat()),
        ("quantity", str(count)), ("codes", "\n".join(epcs)),
    ]  # fmt: skip
    return act(base, user, password, order, "notice", fields)
