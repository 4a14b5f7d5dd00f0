"""The dashboard's figures: the whole hospital at a glance within the user's scope (open
alerts by severity, stock health, near-expiry value, cold-chain units by state, gateways
and readers offline, today's movements), and the same per department."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central import alerts, coldchain, reports
from central.accounts import Principal, alert_in_scope
from central.ledger import Ledger
from central.models import Alert, Location, Movement

STOCK_KINDS = ("stockout", "low_stock", "overstock", "expiry", "expired")


def figures(ledger: Ledger, who: Principal) -> dict[str, Any]:
    now = ledger.clock.now()
    start_of_day = datetime.combine(now.date(), datetime.min.time(), UTC)
    with ledger.session() as s:
        allowed = who.locations(s)
        places = None if allowed is None else set(allowed)
        expiry = reports.near_expiry_value(s, ledger.clock.today(), 90)
        open_alerts = [a for a in alerts.open_alerts(s) if alert_in_scope(who, a.key, places)]
        counts = Counter((a.kind, a.severity) for a in open_alerts)
        locations = {i: (code, dept) for i, code, dept in
                     s.execute(select(Location.id, Location.code, Location.department))
                     if places is None or i in places}  # fmt: skip
        codes = {code for code, _ in locations.values()}
        if places is not None:
            lines = [line for line in expiry["lines"] if line["location"] in codes]
            total = sum((Decimal(line["value"]) for line in lines), Decimal(0))
            expiry = expiry | {"lines": lines, "total_value": str(total)}
        moved = _moved_today(s, start_of_day, places)
        today = select(func.count()).select_from(Movement)
        today = today.where(Movement.recorded_at >= start_of_day)
        if places is not None:
            today = today.where(
                Movement.to_location_id.in_(places) | Movement.from_location_id.in_(places)
            )
        moved_today = int(s.scalar(today) or 0)
        cold = Counter(u.state for u in coldchain.units(s, now, who))
    by_severity = {sev: sum(n for (_k, v), n in counts.items() if v == sev)
                   for sev in ("critical", "warning", "info")}  # fmt: skip
    by_kind = {kind: sum(n for (k, _v), n in counts.items() if k == kind)
               for kind in ("stockout", "low_stock", "overstock", "coldchain",
                            "gateway_offline", "reader_offline")}  # fmt: skip
    horizons = _by_horizon(expiry["lines"])
    departments = _per_department(locations, open_alerts, expiry["lines"], moved)
    return {"who": who, "by_severity": by_severity, "by_kind": by_kind, "expiry": expiry,
            "moved_today": moved_today, "cold": cold,
            "departments": departments, "horizons": horizons}  # fmt: skip


HORIZONS = (("expired", -1), ("7", 7), ("30", 30), ("90", 90))


def _by_horizon(lines: list[dict[str, Any]]) -> dict[str, Decimal]:
    """Near-expiry value by horizon: expired, within 7, 30 and 90 days (each line once, in
    its nearest horizon)."""
    out = {name: Decimal("0.00") for name, _ in HORIZONS}
    for line in lines:
        name = next((n for n, days in HORIZONS if line["days_left"] <= days), None)
        if name is not None:
            out[name] += Decimal(line["value"])
    return out


def _moved_today(s: Session, since: datetime, places: set[int] | None) -> Counter[int | None]:
    """Today's movements per location they touched (a movement between two locations
    counts at both; one in or out of nowhere, once)."""
    out: Counter[int | None] = Counter()
    for column in (Movement.to_location_id, Movement.from_location_id):
        query = (
            select(column, func.count())
            .where(Movement.recorded_at >= since, column.is_not(None))
            .group_by(column)
        )
        for loc, n in s.execute(query):
            if places is None or loc in places:
                out[loc] += n
    return out


def _per_department(
    locations: dict[int, tuple[str, str | None]],
    open_alerts: list[Alert],
    expiry_lines: list[dict[str, Any]],
    moved: Counter[int | None],
) -> list[dict[str, Any]]:
    """Per department (a location's, from master data; "–" for locations without one):
    open stock alerts by severity, near-expiry value, today's movements."""
    dept_of_code = {code: dept or "–" for code, dept in locations.values()}
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"critical": 0, "warning": 0, "expiry_value": Decimal("0.00"), "moved": 0}
    )
    for a in open_alerts:
        where = a.key.rpartition("@")[2]
        if a.kind in STOCK_KINDS and where.isdigit() and int(where) in locations:
            dept = locations[int(where)][1]
            if a.severity in ("critical", "warning"):
                rows[dept or "–"][a.severity] += 1
    for line in expiry_lines:
        if line["location"] in dept_of_code:
            rows[dept_of_code[line["location"]]]["expiry_value"] += Decimal(line["value"])
    for loc, n in moved.items():
        if loc in locations:
            rows[locations[loc][1] or "–"]["moved"] += n
    return [{"department": d} | r for d, r in sorted(rows.items())]
