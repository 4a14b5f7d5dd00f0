"""The ledger's HTTP API (FastAPI; OpenAPI at /openapi.json) with bearer tokens and roles.

Roles, each including the ones before it: viewer (read), storekeeper (receiving,
acknowledging alerts), quality (recall lock/unlock), admin (master data, dead letters).
Tokens are kept as SHA-256 hashes in a JSON file:
`{"<sha256 hex>": {"user": "anna", "role": "quality"}}`.

Every input has a typed, bounded model (`central/schemas.py`); every answer has a response
model and every status a route can give is documented, so the OpenAPI document is the
contract (checked by schemathesis in the tests). Database work runs in FastAPI's thread
pool (sync routes) or as a background job (master-data imports), never on the event loop.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, HTTPException, Path, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import func, select, text

from central import alerts, reports
from central.imports import (
    COLUMNS,
    MasterDataError,
    check_header,
    epcis_receipt,
    import_master_data,
)
from central.jobs import Jobs
from central.ledger import BookingError, Ledger, ReceiptError, ReceiptLine, new_receipt_number
from central.models import Alert, DeadLetter
from central.schemas import (
    CONFLICT,
    ERRORS,
    INVALID,
    LOT_PATTERN,
    MAX_ID,
    MAX_LIST,
    NOT_FOUND,
    AckIn,
    AlertOut,
    AlertState,
    BatchLock,
    Booked,
    BookingIn,
    ConsumptionLine,
    Day,
    DeadLetterOut,
    EpcHistory,
    Health,
    ImportJob,
    Kpis,
    NearExpiry,
    Problem,
    ReceiptIn,
    Received,
    SlowMover,
    StockLine,
    StocktakeIn,
    StocktakeOut,
    TopConsumer,
    Trace,
)

ROLES = ("viewer", "storekeeper", "quality", "admin")
MAX_UPLOAD = 64 << 20  # a master-data file: 20 000 products are ~2 MB
PREFIX_BYTES = 256


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class User(BaseModel):
    user: str
    role: str


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

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
GtinPath = Annotated[str, Path(pattern=r"^[0-9]{1,14}$")]
LotPath = Annotated[str, Path(pattern=LOT_PATTERN)]
Days = Annotated[int, Query(ge=1, le=3650)]
RECEIPT_NUMBER = r"^[A-Za-z0-9][A-Za-z0-9 ._/#-]{0,79}$"


def _period(start: date | None, end: date | None, today: date) -> tuple[datetime, datetime]:
    """Dates to an UTC [start, end) period; default: the last 30 days."""
    stop = end or today + timedelta(days=1)
    first = start or stop - timedelta(days=30)
    if first >= stop:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "start must be before end")
    return (
        datetime.combine(first, datetime.min.time(), UTC),
        datetime.combine(stop, datetime.min.time(), UTC),
    )


def _known_query(request: Request) -> None:
    """Unknown query parameters are refused, not ignored: `?locaton=ward-5` must not
    answer with the whole hospital's stock."""
    route = request.scope.get("route")
    if route is None or not request.query_params:
        return
    key = (request.method.lower(), route.path)
    known = _QUERY_NAMES.get(key)
    if known is None:  # the OpenAPI document says what each operation takes
        operation = request.app.openapi()["paths"].get(route.path, {}).get(key[0], {})
        params = operation.get("parameters", [])
        known = frozenset(p["name"] for p in params if p["in"] == "query")
        _QUERY_NAMES[key] = known
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"unknown query parameter(s) {unknown[:5]}; known: {sorted(known)}",
        )
    repeated = sorted(k for k in known if len(request.query_params.getlist(k)) > 1)
    if repeated:  # every parameter takes one value; which one would count is a guess
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"query parameter(s) {repeated} given twice"
        )


_QUERY_NAMES: dict[tuple[str, str], frozenset[str]] = {}


def _invalid(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


def create_app(ledger: Ledger, tokens: dict[str, dict[str, str]]) -> FastAPI:
    app = FastAPI(title="hwms ledger", version="0.1.0", dependencies=[Depends(_known_query)])
    app.state.tokens = tokens
    app.state.jobs = jobs = Jobs()
    app.router.add_event_handler("shutdown", jobs.close)
    clock = ledger.clock

    @app.get("/health")
    def health() -> Health:
        with ledger.engine.connect() as c:
            c.execute(text("select 1"))
        return Health(status="ok")

    @app.get("/stock", responses=ERRORS | INVALID)
    def stock(
        _: Viewer,
        location: Annotated[str | None, Query(max_length=200)] = None,
        gtin: Annotated[str | None, Query(pattern=r"^[0-9]{1,14}$")] = None,
        lot: Annotated[str | None, Query(pattern=LOT_PATTERN)] = None,
    ) -> list[StockLine]:
        """Stock per location and batch; a location covers the locations below it."""
        return [StockLine(**row) for row in ledger.stock(location, gtin, lot)]

    @app.get("/batches/{gtin}/{lot}/trace", responses=ERRORS | NOT_FOUND | INVALID)
    def trace(gtin: GtinPath, lot: LotPath, _: Viewer) -> Trace:
        result = ledger.trace(gtin.zfill(14), lot)
        if not result["found"]:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such batch")
        return Trace.model_validate(result)

    def _lock(gtin: str, lot: str, user: User, locked: bool) -> BatchLock:
        try:
            ledger.lock_batch(gtin.zfill(14), lot, user=user.user, locked=locked)
        except KeyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from None
        return BatchLock(gtin=gtin.zfill(14), lot=lot, locked=locked)

    @app.post("/batches/{gtin}/{lot}/lock", responses=ERRORS | NOT_FOUND | INVALID)
    def lock(gtin: GtinPath, lot: LotPath, user: Quality) -> BatchLock:
        """Recall lock: any later movement of the batch raises an alert."""
        return _lock(gtin, lot, user, True)

    @app.post("/batches/{gtin}/{lot}/unlock", responses=ERRORS | NOT_FOUND | INVALID)
    def unlock(gtin: GtinPath, lot: LotPath, user: Quality) -> BatchLock:
        return _lock(gtin, lot, user, False)

    @app.post("/receipts", status_code=201, responses=ERRORS | INVALID)
    def receive(
        lines: Annotated[list[ReceiptIn], Body(min_length=1, max_length=MAX_LIST)],
        user: Storekeeper,
        number: Annotated[str | None, Query(pattern=RECEIPT_NUMBER)] = None,
    ) -> Received:
        """Book a delivery; `number` is its delivery note (generated when not given; a
        number already booked is refused)."""
        number = number or new_receipt_number(clock.now())
        try:
            n = ledger.receive(
                [ReceiptLine(**line.model_dump()) for line in lines],
                actor=user.user,
                today=clock.today(),
                number=number,
            )
        except ReceiptError as exc:
            raise _invalid(exc) from None
        return Received(received=n, number=number)

    @app.get("/alerts", responses=ERRORS)
    def list_alerts(_: Viewer) -> list[AlertOut]:
        with ledger.session() as s:
            return [AlertOut.model_validate(alerts.as_dict(a)) for a in alerts.open_alerts(s)]

    @app.post("/alerts/{alert_id}/ack", responses=ERRORS | NOT_FOUND | CONFLICT | INVALID)
    def ack(alert_id: Id, body: AckIn, user: Storekeeper) -> AlertState:
        with ledger.session.begin() as s:
            if s.get(Alert, alert_id) is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
            try:
                a = alerts.acknowledge(s, alert_id, user.user, body.comment, clock.now())
            except ValueError as exc:
                raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
            return AlertState(id=a.id, state=a.state)

    @app.get("/epcs/{epc}", responses=ERRORS | NOT_FOUND | INVALID)
    def epc_history(epc: Annotated[str, Path(max_length=300)], _: Viewer) -> EpcHistory:
        result = ledger.epc_history(epc)
        if not result["found"]:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such EPC in the ledger")
        return EpcHistory.model_validate(result)

    @app.post("/receipts/epcis", status_code=201, responses=ERRORS | INVALID)
    def receive_epcis(
        doc: dict[str, Any],
        location: Annotated[str, Query(max_length=200)],
        user: Storekeeper,
    ) -> Received:
        """Book the commissioning ObjectEvents of an EPCIS 2.0 document at `location`."""
        number = new_receipt_number(clock.now())
        try:
            lines = epcis_receipt(doc, location)
            n = ledger.receive(lines, actor=user.user, today=clock.today(), number=number)
        except ReceiptError as exc:
            raise _invalid(exc) from None
        return Received(received=n, number=number)

    @app.post("/bookings", status_code=201, responses=ERRORS | INVALID)
    def book(body: BookingIn, user: Storekeeper) -> Booked:
        try:
            n = ledger.book(
                body.kind, location=body.location, user=user.user, reason=body.reason,
                epcs=tuple(body.epcs), gtin=body.gtin, lot=body.lot, quantity=body.quantity,
                case_id=body.case_id,
            )  # fmt: skip
        except BookingError as exc:
            raise _invalid(exc) from None
        return Booked(booked=n)

    @app.post("/stocktakes", status_code=201, responses=ERRORS | INVALID)
    def stocktake(body: StocktakeIn, user: Storekeeper) -> StocktakeOut:
        try:
            report = ledger.stocktake(body.location, body.epcs, user=user.user, source=body.source)
        except BookingError as exc:
            raise _invalid(exc) from None
        return StocktakeOut.model_validate(report)

    @app.get("/stocktakes/{stocktake_id}", responses=ERRORS | NOT_FOUND | INVALID)
    def stocktake_report(stocktake_id: Id, _: Viewer) -> StocktakeOut:
        try:
            return StocktakeOut.model_validate(ledger.stocktake_report(stocktake_id))
        except KeyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from None

    @app.post(
        "/stocktakes/{stocktake_id}/confirm", responses=ERRORS | NOT_FOUND | CONFLICT | INVALID
    )
    def confirm(stocktake_id: Id, user: Storekeeper) -> StocktakeOut:
        try:
            return StocktakeOut.model_validate(
                ledger.confirm_stocktake(stocktake_id, user=user.user)
            )
        except KeyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from None
        except BookingError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None

    @app.post(
        "/master-data/{kind}",
        status_code=202,
        responses=ERRORS | INVALID | {413: {"model": Problem, "description": "file too large"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
    )
    async def master_data(
        kind: Literal[tuple(COLUMNS)],  # type: ignore[valid-type]
        request: Request,
        response: Response,
        user: Admin,
    ) -> ImportJob:
        """Import a CSV file of master data as a background job (all or nothing); follow
        it at the `Location` given, `GET /jobs/{id}`."""
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_UPLOAD:
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE, f"the file exceeds {MAX_UPLOAD} bytes"
                )
        csv_text = body.decode("utf-8", "replace")
        try:  # a file that is not this kind of master data is refused now, not as a job
            check_header(kind, csv_text.partition("\n")[0].rstrip("\r"))
        except MasterDataError as exc:
            raise _invalid(exc) from None

        def work(progress: Any) -> int:
            with ledger.session.begin() as s:
                return import_master_data(
                    s, kind, csv_text, actor=user.user, clock=clock, progress=progress
                )

        job = jobs.submit(kind, work, (MasterDataError,))
        response.headers["Location"] = f"/jobs/{job['id']}"
        return ImportJob.model_validate(job)

    @app.get("/jobs/{job_id}", responses=ERRORS | NOT_FOUND | INVALID)
    def job(job_id: Id, _: Admin) -> ImportJob:
        found = jobs.get(job_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such job (jobs live until restart)")
        return ImportJob.model_validate(found)

    @app.get("/reports/consumption", responses=ERRORS | INVALID)
    def consumption(
        _: Viewer, start: Day | None = None, end: Day | None = None
    ) -> list[ConsumptionLine]:
        with ledger.session() as s:
            rows = reports.consumption(s, *_period(start, end, clock.today()))
        return [ConsumptionLine.model_validate(r) for r in rows]

    @app.get("/reports/top-consumers", responses=ERRORS | INVALID)
    def top_consumers(
        _: Viewer,
        start: Day | None = None,
        end: Day | None = None,
        n: Annotated[int, Query(ge=1, le=1000)] = 10,
    ) -> list[TopConsumer]:
        with ledger.session() as s:
            rows = reports.top_consumers(s, *_period(start, end, clock.today()), n)
        return [TopConsumer.model_validate(r) for r in rows]

    @app.get("/reports/slow-movers", responses=ERRORS | INVALID)
    def slow_movers(_: Viewer, days: Days = 90) -> list[SlowMover]:
        with ledger.session() as s:
            return [SlowMover.model_validate(r) for r in reports.slow_movers(s, clock.now(), days)]

    @app.get("/reports/near-expiry", responses=ERRORS | INVALID)
    def near_expiry(_: Viewer, days: Days = 90) -> NearExpiry:
        with ledger.session() as s:
            return NearExpiry.model_validate(reports.near_expiry_value(s, clock.today(), days))

    @app.get("/reports/kpis", responses=ERRORS | INVALID)
    def kpis(_: Viewer, start: Day | None = None, end: Day | None = None) -> Kpis:
        with ledger.session() as s:
            period = _period(start, end, clock.today())
            return Kpis.model_validate(reports.kpis(s, *period, clock.today()))

    @app.get("/dead-letters", responses=ERRORS | INVALID)
    def dead_letters(
        _: Admin,
        after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[DeadLetterOut]:
        """Dead letters after `after_id`, oldest first, with the payload's size and first
        256 bytes; the whole payload is at `/dead-letters/{id}/payload`."""
        q = (
            select(
                DeadLetter.id, DeadLetter.topic, DeadLetter.reason, DeadLetter.received_at,
                func.length(DeadLetter.payload), func.substr(DeadLetter.payload, 1, PREFIX_BYTES),
            )
            .where(DeadLetter.id > after_id)
            .order_by(DeadLetter.id)
            .limit(limit)
        )  # fmt: skip
        with ledger.session() as s:
            return [
                DeadLetterOut(
                    id=i,
                    topic=topic,
                    reason=reason,
                    received_at=at.isoformat(),
                    size=size or 0,
                    prefix=bytes(prefix or b"").decode("utf-8", "replace"),
                )
                for i, topic, reason, at, size, prefix in s.execute(q)
            ]

    @app.get(
        "/dead-letters/{letter_id}/payload",
        response_class=Response,
        responses=ERRORS | NOT_FOUND | INVALID | {
            200: {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                      "format": "binary"}}}}
        },
    )  # fmt: skip
    def dead_letter_payload(letter_id: Id, _: Admin) -> Response:
        with ledger.session() as s:
            payload = s.scalar(select(DeadLetter.payload).where(DeadLetter.id == letter_id))
        if payload is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such dead letter")
        return Response(bytes(payload), media_type="application/octet-stream")

    return app


def load_tokens(path: FilePath) -> dict[str, dict[str, str]]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a JSON object of token hashes is expected")
    return data
