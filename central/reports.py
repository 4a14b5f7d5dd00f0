"""Reports and KPIs from the ledger: what pharmacy, stores and the finance office ask for.

Consumption is cabinet takes minus cabinet returns in the period, attributed to the user's
department (master data; "unknown" when the badge is not on file). Values use the product's
`unit_price` when known (a product without a price counts as 0 and is listed as such).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.models import (
    Alert,
    AppUser,
    Batch,
    Location,
    Movement,
    Product,
    Stock,
    Stocktake,
)

TAKE, RETURN = "cabinet_take", "cabinet_return"
# consumption: cabinet takes and dispensing scans, less what came back (cabinet returns and
# returns booked or scanned)
CONSUMED, GIVEN_BACK = (TAKE, "dispense"), (RETURN, "return")
CONSUMPTION_KINDS = CONSUMED + GIVEN_BACK


def _prices(s: Session) -> dict[str, Decimal]:
    return {g: p for g, p in s.execute(select(Product.gtin, Product.unit_price)) if p is not None}


def _names(s: Session) -> dict[str, str]:
    return dict(s.execute(select(Product.gtin, Product.name)).all())


def consumption(s: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per department and product: items consumed (takes - returns) and their value."""
    departments = dict(s.execute(select(AppUser.id, AppUser.department)).all())
    prices, names = _prices(s), _names(s)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    rows = s.execute(
        select(Movement.actor, Batch.gtin, Movement.kind, func.sum(Movement.quantity))
        .join(Batch, Batch.id == Movement.batch_id)
        .where(Movement.kind.in_(CONSUMPTION_KINDS), Movement.occurred_at >= start,
               Movement.occurred_at < end)
        .group_by(Movement.actor, Batch.gtin, Movement.kind)
    )  # fmt: skip
    for actor, gtin, kind, qty in rows:
        dept = departments.get(actor) or "unknown"
        totals[(dept, gtin)] += int(qty) if kind in CONSUMED else -int(qty)
    return [
        {
            "department": dept,
            "gtin": gtin,
            "product": names.get(gtin, ""),
            "quantity": qty,
            "value": str(prices.get(gtin, Decimal(0)) * qty),
        }
        for (dept, gtin), qty in sorted(totals.items())
    ]


def top_consumers(s: Session, start: datetime, end: datetime, n: int = 10) -> list[dict[str, Any]]:
    """Users by items taken (net of returns) in the period, with the cases they took for."""
    net: dict[str, int] = defaultdict(int)
    cases: dict[str, set[str]] = defaultdict(set)
    for actor, kind, qty, case in s.execute(
        select(Movement.actor, Movement.kind, Movement.quantity, Movement.case_id).where(
            Movement.kind.in_(CONSUMPTION_KINDS),
            Movement.occurred_at >= start,
            Movement.occurred_at < end,
        )
    ):
        net[actor] += qty if kind in CONSUMED else -qty
        if case and kind in CONSUMED:
            cases[actor].add(case)
    ranked = sorted(net.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [{"user": u, "items": q, "cases": len(cases[u])} for u, q in ranked]


def slow_movers(s: Session, now: datetime, days: int = 90) -> list[dict[str, Any]]:
    """Stock on hand whose batch has not moved (besides receiving) for `days`."""
    last_moved = dict(
        s.execute(
            select(Movement.batch_id, func.max(Movement.occurred_at))
            .where(Movement.kind.not_in(("receiving", "opening_balance")))
            .group_by(Movement.batch_id)
        ).all()
    )
    cutoff = now - timedelta(days=days)
    out = []
    for code, batch_id, gtin, lot, qty in s.execute(
        select(Location.code, Batch.id, Batch.gtin, Batch.lot, Stock.quantity)
        .join(Location, Location.id == Stock.location_id)
        .join(Batch, Batch.id == Stock.batch_id)
        .where(Stock.quantity > 0)
        .order_by(Location.code, Batch.gtin, Batch.lot)
    ):
        moved = last_moved.get(batch_id)
        if moved is not None and moved.tzinfo is None:
            moved = moved.replace(tzinfo=now.tzinfo)
        if moved is None or moved < cutoff:
            out.append(
                {"location": code, "gtin": gtin, "lot": lot, "quantity": qty,
                 "last_moved": moved.isoformat() if moved else None}
            )  # fmt: skip
    return out


def near_expiry_value(s: Session, today: date, days: int = 90) -> dict[str, Any]:
    """Stock expiring within `days` (and already expired), with its value."""
    prices = _prices(s)
    lines = []
    total = Decimal(0)
    for code, gtin, lot, expiry, qty in s.execute(
        select(Location.code, Batch.gtin, Batch.lot, Batch.expiry, Stock.quantity)
        .join(Location, Location.id == Stock.location_id)
        .join(Batch, Batch.id == Stock.batch_id)
        .where(Stock.quantity > 0, Batch.expiry.is_not(None),
               Batch.expiry <= today + timedelta(days=days))
        .order_by(Batch.expiry, Location.code)
    ):  # fmt: skip
        assert expiry is not None  # filtered in the query
        value = prices.get(gtin, Decimal(0)) * qty
        total += value
        lines.append(
            {"location": code, "gtin": gtin, "lot": lot, "expiry": expiry.isoformat(),
             "days_left": (expiry - today).days, "quantity": qty, "value": str(value),
             "priced": gtin in prices}
        )  # fmt: skip
    return {"days": days, "total_value": str(total), "lines": lines}


def kpis(s: Session, start: datetime, end: datetime, today: date) -> dict[str, Any]:
    """Stock accuracy (mean of the period's stocktakes), stockouts raised, expiry and scrap
    losses (items and value), inventory turnover (consumed / stock on hand)."""
    prices = _prices(s)
    accuracy = s.scalar(
        select(func.avg(Stocktake.accuracy)).where(
            Stocktake.created_at >= start, Stocktake.created_at < end
        )
    )
    stockouts = s.scalar(
        select(func.count(Alert.id)).where(
            Alert.kind == "stockout", Alert.raised_at >= start, Alert.raised_at < end
        )
    )
    losses: dict[str, dict[str, Any]] = {}
    for kind in ("scrap", "loss"):
        items, value = 0, Decimal(0)
        for gtin, qty in s.execute(
            select(Batch.gtin, func.sum(Movement.quantity))
            .join(Batch, Batch.id == Movement.batch_id)
            .where(Movement.kind == kind, Movement.occurred_at >= start, Movement.occurred_at < end)
            .group_by(Batch.gtin)
        ):
            items += int(qty)
            value += prices.get(gtin, Decimal(0)) * int(qty)
        losses[kind] = {"items": items, "value": str(value)}
    expired_items, expired_value = 0, Decimal(0)
    for gtin, qty in s.execute(
        select(Batch.gtin, Stock.quantity)
        .join(Batch, Batch.id == Stock.batch_id)
        .where(Stock.quantity > 0, Batch.expiry < today)
    ):
        expired_items += qty
        expired_value += prices.get(gtin, Decimal(0)) * qty
    consumed = sum(r["quantity"] for r in consumption(s, start, end))
    on_hand = int(s.scalar(select(func.coalesce(func.sum(Stock.quantity), 0))) or 0)
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "stock_accuracy": None if accuracy is None else round(float(accuracy), 4),
        "stockouts": int(stockouts or 0),
        "scrap": losses["scrap"],
        "loss": losses["loss"],
        "expired_on_hand": {"items": expired_items, "value": str(expired_value)},
        "consumed_items": consumed,
        "on_hand_items": on_hand,
        "inventory_turnover": round(consumed / on_hand, 4) if on_hand else None,
    }


def _cabinet_moves(
    s: Session,
    start: datetime,
    end: datetime,
    locations: list[int] | None,
    kinds: tuple[str, ...] = (TAKE, RETURN),
) -> Any:
    """Takes and returns (cabinet ones by default) of the period, optionally only at
    `locations`: the place, when, who, case, kind, GTIN, lot, quantity; newest first."""
    cabinet = func.coalesce(Movement.from_location_id, Movement.to_location_id)
    query = (
        select(Location.code, Movement.occurred_at, Movement.actor, Movement.case_id,
               Movement.kind, Batch.gtin, Batch.lot, Movement.quantity)
        .join(Batch, Batch.id == Movement.batch_id)
        .join(Location, Location.id == cabinet)
        .where(Movement.kind.in_(kinds), Movement.occurred_at >= start,
               Movement.occurred_at < end)
        .order_by(Movement.occurred_at.desc(), Movement.id)
    )  # fmt: skip
    if locations is not None:
        query = query.where(cabinet.in_(locations))
    return s.execute(query)


def cabinet_sessions(
    s: Session,
    start: datetime,
    end: datetime,
    locations: list[int] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The period's cabinet sessions, newest first: one door cycle (a cabinet, a time, a
    user, a case) with what was taken and returned."""
    names = _names(s)
    sessions: dict[tuple[str, datetime, str, str], dict[str, Any]] = {}
    for code, at, actor, case, kind, gtin, lot, qty in _cabinet_moves(s, start, end, locations):
        key = (code, at, actor, case)
        if key not in sessions:
            if len(sessions) == limit:
                break
            sessions[key] = {"cabinet": code, "at": at, "user": actor, "case": case,
                             "taken": 0, "returned": 0, "lines": []}  # fmt: skip
        one = sessions[key]
        one["taken" if kind == TAKE else "returned"] += qty
        action = "take" if kind == TAKE else "return"
        one["lines"].append({"action": action, "gtin": gtin, "product": names.get(gtin, ""),
                             "lot": lot, "quantity": qty})  # fmt: skip
    return list(sessions.values())


CONSUMPTION_BY = ("department", "user", "case", "product")


def consumption_by(
    s: Session,
    start: datetime,
    end: datetime,
    by: str,
    locations: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Items consumed (takes - returns) and their value per department, user, case or
    product, largest value first; cabinets at `locations` only when given."""
    if by not in CONSUMPTION_BY:
        raise ValueError(f"consumption by {by!r}")
    departments = dict(s.execute(select(AppUser.id, AppUser.department)).all())
    prices, names = _prices(s), _names(s)
    items: dict[str, int] = defaultdict(int)
    value: dict[str, Decimal] = defaultdict(Decimal)
    moves = _cabinet_moves(s, start, end, locations, CONSUMPTION_KINDS)
    for _code, _at, actor, case, kind, gtin, _lot, qty in moves:
        key = {"department": departments.get(actor) or "unknown", "user": actor,
               "case": case or "", "product": gtin}[by]  # fmt: skip
        signed = qty if kind in CONSUMED else -qty
        items[key] += signed
        value[key] += prices.get(gtin, Decimal(0)) * signed
    rows = [{"key": k, "name": names.get(k, "") if by == "product" else "", "quantity": q,
             "value": str(value[k])} for k, q in items.items()]  # fmt: skip
    return sorted(rows, key=lambda r: (-Decimal(r["value"]), -r["quantity"], r["key"]))


def monthly_consumption(
    s: Session, last_day: date, months: int = 12, departments: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Items consumed and their value per calendar month (UTC), the `months` months up to
    the one holding `last_day`, oldest first; only `departments` when given."""
    out = []
    first = last_day.replace(day=1)
    starts = []
    for _ in range(months):
        starts.append(first)
        first = (first - timedelta(days=1)).replace(day=1)
    for month in reversed(starts):
        following = (month + timedelta(days=32)).replace(day=1)
        rows = consumption(s, _utc(month), _utc(following))
        if departments:
            rows = [r for r in rows if r["department"] in departments]
        value = sum((Decimal(r["value"]) for r in rows), Decimal(0))
        items = sum(r["quantity"] for r in rows)
        out.append({"month": month.strftime("%Y-%m"), "items": items, "value": str(value)})
    return out


def department_ranking(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consumption rows (per department and product) summed per department, by value."""
    items: dict[str, int] = defaultdict(int)
    value: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        items[r["department"]] += r["quantity"]
        value[r["department"]] += Decimal(r["value"])
    ranked = sorted(items, key=lambda d: (-value[d], -items[d], d))
    return [{"department": d, "items": items[d], "value": str(value[d])} for d in ranked]


def _utc(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)
