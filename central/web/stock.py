"""Stock screens: browse and search stock within the user's scope (FEFO order, paged,
CSV), and a stock card per product and location with its running balance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from central.accounts import Principal
from central.ledger import Ledger
from central.ledger.queries import at_or_below
from central.models import Batch, Location, Movement, Product, Stock, Tag
from central.vocab import Permission
from central.web import export

if TYPE_CHECKING:
    from central.web import Pages

PAGE = 50


def _stock_query(s: Session, who: Principal, q: str, location: str) -> Any:
    query = (
        select(
            Location.code,
            Product.name,
            Batch.gtin,
            Batch.lot,
            Batch.expiry,
            Stock.quantity,
            Location.id,
        )
        .join(Location, Location.id == Stock.location_id)
        .join(Batch, Batch.id == Stock.batch_id)
        .outerjoin(Product, Product.gtin == Batch.gtin)
        .where(Stock.quantity > 0)
        .order_by(Batch.gtin, Batch.expiry.asc().nulls_last(), Location.code)  # FEFO
    )
    allowed = who.locations(s)
    if allowed is not None:
        query = query.where(Location.id.in_(allowed))
    if location:
        query = query.where(at_or_below(location))
    if q:
        term = q.strip()
        by_epc = select(Tag.batch_id).where(Tag.epc == term)
        query = query.where(
            or_(
                Product.name.icontains(term, autoescape=True),
                Batch.gtin == term.zfill(14),
                Batch.lot == term,
                Batch.id.in_(by_epc),
            )
        )
    return query


def location_tree(s: Session, allowed: list[int] | None) -> list[dict[str, Any]]:
    """The locations in scope as a tree, site -> store or ward -> zone or cabinet (a
    location's parent from master data, else its site), each with the items it and those
    below it hold."""
    per_location = (
        select(Stock.location_id, func.sum(Stock.quantity))
        .where(Stock.quantity > 0)
        .group_by(Stock.location_id)
    )
    held = dict(s.execute(per_location).all())
    query = select(Location.id, Location.code, Location.name, Location.parent_id)
    if allowed is not None:
        query = query.where(Location.id.in_(allowed))
    rows = s.execute(query.order_by(Location.code)).all()
    nodes: dict[int, dict[str, Any]] = {
        i: {"code": code, "name": name, "qty": int(held.get(i, 0)), "children": []}
        for i, code, name, _parent in rows
    }
    sites: dict[str, dict[str, Any]] = {}
    for i, code, _name, parent in rows:
        if parent in nodes and parent != i:
            nodes[parent]["children"].append(nodes[i])
            continue
        site = code.split("/", 1)[0]
        root = sites.setdefault(site, {"code": site, "name": site, "qty": 0, "children": []})
        root["children"].append(nodes[i])

    def total(node: dict[str, Any], depth: int = 0) -> int:
        if depth < 32:  # a cycle of parents in master data cannot loop forever
            node["qty"] += sum(total(c, depth + 1) for c in node["children"])
        return int(node["qty"])

    for root in sites.values():
        total(root)
    return [sites[k] for k in sorted(sites)]


def register(app: FastAPI, pages: Pages, ledger: Ledger) -> None:
    @app.get("/ui/stock", include_in_schema=False)
    def stock_page(
        request: Request,
        q: str = Query("", max_length=200),
        location: str = Query("", max_length=200),
        page: int = Query(1, ge=1, le=100_000),
    ) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        with ledger.session() as s:
            query = _stock_query(s, who, q, location)
            total = s.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
            rows = s.execute(query.limit(PAGE).offset((page - 1) * PAGE)).all()
            tree = location_tree(s, who.locations(s))
        return pages.render(
            request,
            "stock.html",
            who=who,
            rows=rows,
            q=q,
            location=location,
            page=page,
            pages=max(1, -(-(total or 0) // PAGE)),
            total=total or 0,
            tree=tree,
        )

    @app.get("/ui/stock.{fmt}", include_in_schema=False)
    def stock_export(
        request: Request,
        fmt: Literal["csv", "xlsx"],
        q: str = Query("", max_length=200),
        location: str = Query("", max_length=200),
    ) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        with ledger.session() as s:
            rows = [row[:6] for row in s.execute(_stock_query(s, who, q, location))]
        header = ["location", "product", "gtin", "lot", "expiry", "quantity"]
        return export.table("stock", fmt, header, rows)

    @app.get("/ui/stock/card", include_in_schema=False)
    def stock_card(
        request: Request,
        location: str = Query(max_length=200),
        gtin: str = Query(pattern=r"^[0-9]{14}$"),
    ) -> Response:
        """Every movement of a product in and out of a location, with the running balance."""
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        with ledger.session() as s:
            place = s.scalars(select(Location).where(Location.code == location)).one_or_none()
            if place is None or not who.covers(place.code, place.department):
                return HTMLResponse(pages.text(request, "Not found or not yours to see."), 404)
            moves = s.execute(
                select(
                    Movement.occurred_at,
                    Movement.kind,
                    Batch.lot,
                    Movement.from_location_id,
                    Movement.to_location_id,
                    Movement.quantity,
                    Movement.actor,
                    Movement.reason,
                    Movement.case_id,
                )
                .join(Batch, Batch.id == Movement.batch_id)
                .where(Batch.gtin == gtin)
                .where(
                    (Movement.to_location_id == place.id) | (Movement.from_location_id == place.id)
                )
                .order_by(Movement.occurred_at, Movement.id)
            ).all()
            name = s.scalar(select(Product.name).where(Product.gtin == gtin)) or gtin
        lines, balance = [], 0
        for at, kind, lot, src, dst, qty, actor, reason, case in moves:
            delta = (qty if dst == place.id else 0) - (qty if src == place.id else 0)
            balance += delta
            lines.append(
                {
                    "at": at,
                    "kind": kind,
                    "lot": lot,
                    "delta": delta,
                    "balance": balance,
                    "actor": actor,
                    "reason": reason,
                    "case": case,
                }
            )
        return pages.render(
            request, "card.html", who=who, place=place, gtin=gtin, product=name, lines=lines
        )
