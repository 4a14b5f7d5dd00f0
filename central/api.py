"""The ledger's HTTP API (FastAPI; OpenAPI at /openapi.json) with bearer tokens and roles.

Roles, each including the ones before it: viewer (read), storekeeper (receiving,
acknowledging alerts), quality (recall lock/unlock), admin (dead letters). Tokens are kept
as SHA-256 hashes in a JSON file: `{"<sha256 hex>": {"user": "anna", "role": "quality"}}`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import select, text

from central import alerts, reports
from central.imports import MasterDataError, epcis_receipt, import_master_data
from central.ledger import BookingError, Ledger, ReceiptError, ReceiptLine, new_receipt_number
from central.models import Alert, DeadLetter

ROLES = ("viewer", "storekeeper", "quality", "admin")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class User(BaseModel):
    user: str
    role: str


class ReceiptIn(BaseModel):
    epc: str
    gtin: str
    lot: str
    expiry: date
    location: str


class AckIn(BaseModel):
    comment: str = ""


class BookingIn(BaseModel):
    kind: str  # return, loss, scrap, adjustment
    location: str
    reason: str
    epcs: list[str] = []
    gtin: str = ""
    lot: str = ""
    quantity: int = 0
    case_id: str = ""


class StocktakeIn(BaseModel):
    location: str
    epcs: list[str]
    source: str = "handheld"


def _period(start: date | None, end: date | None, today: date) -> tuple[datetime, datetime]:
    """Dates to an UTC [start, end) period; default: the last 30 days."""
    stop = end or today + timedelta(days=1)
    first = start or stop - timedelta(days=30)
    return (
        datetime.combine(first, datetime.min.time(), UTC),
        datetime.combine(stop, datetime.min.time(), UTC),
    )


_bearer = HTTPBearer(auto_error=False)


def current_user(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    tokens: dict[str, dict[str, str]] = request.app.state.tokens
    entry = tokens.get(hash_token(creds.credentials)) if creds else None
    if entry is None or entry.get("role") not in ROLES:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required")
    return User(user=entry["user"], role=entry["role"])


def _role(minimum: str) -> Any:
    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if ROLES.index(user.role) < ROLES.index(minimum):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {minimum} or higher required")
        return user

    return check


Viewer = Annotated[User, Depends(_role("viewer"))]
Storekeeper = Annotated[User, Depends(_role("storekeeper"))]
Quality = Annotated[User, Depends(_role("quality"))]
Admin = Annotated[User, Depends(_role("admin"))]


def create_app(ledger: Ledger, tokens: dict[str, dict[str, str]]) -> FastAPI:
    app = FastAPI(title="hwms ledger", version="0.1.0")
    app.state.tokens = tokens
    clock = ledger.clock

    @app.get("/health")
    def health() -> dict[str, Any]:
        with ledger.engine.connect() as c:
            c.execute(text("select 1"))
        return {"status": "ok"}

    @app.get("/stock")
    def stock(
        _: Viewer, location: str | None = None, gtin: str | None = None, lot: str | None = None
    ) -> list[dict[str, Any]]:
        return ledger.stock(location, gtin, lot)

    @app.get("/batches/{gtin}/{lot}/trace")
    def trace(gtin: str, lot: str, _: Viewer) -> dict[str, Any]:
        result = ledger.trace(gtin, lot)
        if not result["found"]:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such batch")
        return result

    @app.post("/batches/{gtin}/{lot}/lock")
    def lock(gtin: str, lot: str, user: Quality) -> dict[str, Any]:
        try:
            ledger.lock_batch(gtin, lot, user=user.user)
        except KeyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from None
        return {"gtin": gtin, "lot": lot, "locked": True}

    @app.post("/batches/{gtin}/{lot}/unlock")
    def unlock(gtin: str, lot: str, user: Quality) -> dict[str, Any]:
        try:
            ledger.lock_batch(gtin, lot, user=user.user, locked=False)
        except KeyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from None
        return {"gtin": gtin, "lot": lot, "locked": False}

    @app.post("/receipts", status_code=201)
    def receive(
        lines: list[ReceiptIn], user: Storekeeper, number: str | None = None
    ) -> dict[str, Any]:
        """Book a delivery; `number` is its delivery note (generated when not given)."""
        number = number or new_receipt_number(clock.now())
        try:
            n = ledger.receive(
                [ReceiptLine(**line.model_dump()) for line in lines],
                actor=user.user,
                today=clock.today(),
                number=number,
            )
        except ReceiptError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        return {"received": n, "number": number}

    @app.get("/alerts")
    def list_alerts(_: Viewer) -> list[dict[str, Any]]:
        with ledger.session() as s:
            return [alerts.as_dict(a) for a in alerts.open_alerts(s)]

    @app.post("/alerts/{alert_id}/ack")
    def ack(alert_id: int, body: AckIn, user: Storekeeper) -> dict[str, Any]:
        with ledger.session.begin() as s:
            if s.get(Alert, alert_id) is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
            try:
                a = alerts.acknowledge(s, alert_id, user.user, body.comment, clock.now())
            except ValueError as exc:
                raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
            return {"id": a.id, "state": a.state}

    @app.get("/epcs/{epc}")
    def epc_history(epc: str, _: Viewer) -> dict[str, Any]:
        result = ledger.epc_history(epc)
        if not result["found"]:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such EPC in the ledger")
        return result

    @app.post("/receipts/epcis", status_code=201)
    def receive_epcis(doc: dict[str, Any], location: str, user: Storekeeper) -> dict[str, Any]:
        try:
            n = ledger.receive(epcis_receipt(doc, location), actor=user.user, today=clock.today())
        except ReceiptError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        return {"received": n}

    @app.post("/bookings", status_code=201)
    def book(body: BookingIn, user: Storekeeper) -> dict[str, Any]:
        try:
            n = ledger.book(
                body.kind, location=body.location, user=user.user, reason=body.reason,
                epcs=tuple(body.epcs), gtin=body.gtin, lot=body.lot, quantity=body.quantity,
                case_id=body.case_id,
            )  # fmt: skip
        except BookingError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        return {"booked": n}

    @app.post("/stocktakes", status_code=201)
    def stocktake(body: StocktakeIn, user: Storekeeper) -> dict[str, Any]:
        return ledger.stocktake(body.location, body.epcs, user=user.user, source=body.source)

    @app.get("/stocktakes/{stocktake_id}")
    def stocktake_report(stocktake_id: int, _: Viewer) -> dict[str, Any]:
        try:
            return ledger.stocktake_report(stocktake_id)
        except KeyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from None

    @app.post("/stocktakes/{stocktake_id}/confirm")
    def confirm(stocktake_id: int, user: Storekeeper) -> dict[str, Any]:
        try:
            return ledger.confirm_stocktake(stocktake_id, user=user.user)
        except KeyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from None
        except BookingError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None

    @app.post("/master-data/{kind}", status_code=201)
    async def master_data(kind: str, request: Request, user: Admin) -> dict[str, Any]:
        text_body = (await request.body()).decode("utf-8", "replace")
        try:
            with ledger.session.begin() as s:
                n = import_master_data(s, kind, text_body, actor=user.user)
        except MasterDataError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        return {"imported": n}

    @app.get("/reports/consumption")
    def consumption(
        _: Viewer, start: date | None = None, end: date | None = None
    ) -> list[dict[str, Any]]:
        with ledger.session() as s:
            return reports.consumption(s, *_period(start, end, clock.today()))

    @app.get("/reports/top-consumers")
    def top_consumers(
        _: Viewer, start: date | None = None, end: date | None = None, n: int = 10
    ) -> list[dict[str, Any]]:
        with ledger.session() as s:
            return reports.top_consumers(s, *_period(start, end, clock.today()), n)

    @app.get("/reports/slow-movers")
    def slow_movers(_: Viewer, days: int = 90) -> list[dict[str, Any]]:
        with ledger.session() as s:
            return reports.slow_movers(s, clock.now(), days)

    @app.get("/reports/near-expiry")
    def near_expiry(_: Viewer, days: int = 90) -> dict[str, Any]:
        with ledger.session() as s:
            return reports.near_expiry_value(s, clock.today(), days)

    @app.get("/reports/kpis")
    def kpis(_: Viewer, start: date | None = None, end: date | None = None) -> dict[str, Any]:
        with ledger.session() as s:
            return reports.kpis(s, *_period(start, end, clock.today()), clock.today())

    @app.get("/dead-letters")
    def dead_letters(_: Admin) -> list[dict[str, Any]]:
        with ledger.session() as s:
            return [
                {
                    "id": d.id,
                    "topic": d.topic,
                    "reason": d.reason,
                    "received_at": d.received_at.isoformat(),
                    "payload": d.payload[:2000].decode("utf-8", "replace"),
                }
                for d in s.scalars(select(DeadLetter).order_by(DeadLetter.id))
            ]

    return app


def load_tokens(path: Path) -> dict[str, dict[str, str]]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a JSON object of token hashes is expected")
    return data
