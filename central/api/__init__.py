"""The ledger's HTTP API (FastAPI; OpenAPI at /openapi.json) with bearer tokens and roles.

Every route needs a permission (`central/accounts.py`: what each role may do). A bearer
token acts for a user: issued per user in the database (`hwms central token add`), or
listed as SHA-256 hashes in a tokens file: `{"<sha256 hex>": {"user": "anna", "role":
"quality"}}` (a supplier's system: `"role": "supplier", "supplier": "<code>"`).

One router per resource; every input a typed, bounded model and every answer a response
model (`central/schemas.py`), every status a route can give documented, so the OpenAPI
document is the contract (checked by schemathesis in the tests). The ledger's errors
(`central/errors.py`) become their HTTP status in one handler. Database work runs in
FastAPI's thread pool (sync routes) or as a background job, never on the event loop.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text

from central.accounts import Principal, hash_token
from central.api import (
    admin,
    alerts,
    audit,
    bookings,
    coldchain,
    epcis,
    fhir,
    purchasing,
    receipts,
    reports,
    requisitions,
    stock,
)
from central.api.deps import ROLES, known_query
from central.errors import LedgerError
from central.jobs import Jobs
from central.ledger import Ledger, VarianceRefused
from central.schemas import Health
from central.web import add_web

__all__ = ["ROLES", "Principal", "create_app", "hash_token", "load_tokens"]


def create_app(
    ledger: Ledger,
    tokens: dict[str, dict[str, str]],
    *,
    secure_cookies: bool = False,
    label_printer: str | None = None,
) -> FastAPI:
    """The API and the web app. `secure_cookies`: behind HTTPS (session cookies only over
    TLS, HSTS); `label_printer`: HOST:PORT of the RFID label printer (raw ZPL)."""
    app = FastAPI(title="hwms ledger", version="0.1.0", dependencies=[Depends(known_query)])
    app.state.ledger = ledger
    app.state.tokens = tokens
    app.state.jobs = jobs = Jobs()
    app.router.add_event_handler("shutdown", jobs.close)

    @app.exception_handler(LedgerError)
    def ledger_error(_request: Request, exc: LedgerError) -> JSONResponse:
        body: dict[str, object] = {"detail": str(exc)}
        if isinstance(exc, VarianceRefused):  # the differences to show and accept
            body["variances"] = exc.variances
        return JSONResponse(body, status_code=exc.http_status)

    @app.get("/health", tags=["health"])
    def health() -> Health:
        with ledger.engine.connect() as c:
            c.execute(text("select 1"))
        return Health(status="ok")

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """The web process's own metrics (scans, labels; the ingest service has its own
        port): for Prometheus on the internal network, not through the public proxy."""
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    for module in (stock, receipts, alerts, bookings, requisitions, purchasing, coldchain,
                   reports, admin):  # fmt: skip
        app.include_router(module.router)
    app.include_router(requisitions.witness_router)
    app.include_router(purchasing.proposals_router)
    app.include_router(purchasing.kpi_router)
    app.include_router(fhir.router)
    app.include_router(fhir.push_router)
    app.include_router(audit.router)
    app.include_router(epcis.router)
    add_web(app, ledger, secure_cookies=secure_cookies, label_printer=label_printer)
    return app


def load_tokens(path: Path) -> dict[str, dict[str, str]]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a JSON object of token hashes is expected")
    return data
