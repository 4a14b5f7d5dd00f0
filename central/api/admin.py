"""Administration: master-data imports as background jobs, and the dead letters."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy import func, select

from central.api.deps import Admin, Id, JobsDep, LedgerDep
from central.errors import NotFound
from central.imports import COLUMNS, MasterDataError, check_header, import_master_data
from central.models import DeadLetter
from central.schemas import (
    ERRORS,
    INVALID,
    MAX_ID,
    NOT_FOUND,
    DeadLetterOut,
    ImportJob,
    Problem,
)

router = APIRouter(tags=["administration"], responses=ERRORS | INVALID)

MAX_UPLOAD = 64 << 20  # a master-data file: 20 000 products are ~2 MB
PREFIX_BYTES = 256


@router.post(
    "/master-data/{kind}",
    status_code=202,
    responses={413: {"model": Problem, "description": "file too large"}},
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
    ledger: LedgerDep,
    jobs: JobsDep,
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
    # a file that is not this kind of master data is refused now, not as a failed job
    check_header(kind, csv_text.partition("\n")[0].rstrip("\r"))

    def work(progress: Any) -> int:
        with ledger.session.begin() as s:
            return import_master_data(
                s, kind, csv_text, actor=user.user, clock=ledger.clock, progress=progress
            )

    job = jobs.submit(kind, work, (MasterDataError,))
    response.headers["Location"] = f"/jobs/{job['id']}"
    return ImportJob.model_validate(job)


@router.get("/jobs/{job_id}", responses=NOT_FOUND)
def job(job_id: Id, jobs: JobsDep, _: Admin) -> ImportJob:
    found = jobs.get(job_id)
    if found is None:
        raise NotFound("no such job (jobs are kept until the ledger restarts)")
    return ImportJob.model_validate(found)


@router.get("/dead-letters")
def dead_letters(
    ledger: LedgerDep,
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


@router.get(
    "/dead-letters/{letter_id}/payload",
    response_class=Response,
    responses=NOT_FOUND | {
        200: {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                  "format": "binary"}}}}
    },
)  # fmt: skip
def dead_letter_payload(letter_id: Id, ledger: LedgerDep, _: Admin) -> Response:
    with ledger.session() as s:
        payload = s.scalar(select(DeadLetter.payload).where(DeadLetter.id == letter_id))
    if payload is None:
        raise NotFound("no such dead letter")
    return Response(bytes(payload), media_type="application/octet-stream")
