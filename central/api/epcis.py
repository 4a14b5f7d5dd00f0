"""EPCIS 2.0 REST binding, queries only: `GET /epcis/events` answers the ledger's movements as
an EPCISQueryDocument (SimpleEventQuery), each event with its CBV 2.0 event hash ID, so a
supplier or an auditor with an EPCIS client pulls a batch's or an item's history. Lists take
several values as `a|b`; pages follow `nextPageToken` (also given
in a `Link: rel="next"` header)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from central import epcis_query
from central.api.deps import LedgerDep, Reader, plain
from central.errors import Invalid
from central.schemas import ERRORS, INVALID
from rules.epcis import query_document


class EpcisResponse(JSONResponse):
    media_type = "application/ld+json"


router = APIRouter(prefix="/epcis", tags=["epcis"], responses=plain(ERRORS | INVALID))
Values = Annotated[str | None, Query(max_length=20_000)]  # several: a|b
HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}


def _values(*given: str | None) -> tuple[str, ...]:
    out = tuple(v for value in given for v in (value or "").split("|") if v)
    if any(len(v) > 400 for v in out) or len(out) > 200:
        raise Invalid("query: at most 200 values of at most 400 characters each")
    return out


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
        if at.tzinfo is None:
            raise Invalid(f"{name}: {value[:40]!r} needs its time zone (Z or +hh:mm)")
        return at.astimezone(UTC)
    except (ValueError, OverflowError):
        raise Invalid(f"{name}: {value[:40]!r} is not an ISO 8601 date-time") from None


@router.get(
    "/events",
    response_class=EpcisResponse,
    responses={200: {"content": {"application/ld+json": {}},
                     "description": "an EPCISQueryDocument (EPCIS 2.0 JSON-LD)"}},
)  # fmt: skip
def events(
    request: Request, ledger: LedgerDep, user: Reader,
    MATCH_epc: Values = None, MATCH_anyEPC: Values = None,  # noqa: N803 - EPCIS names
    MATCH_epcClass: Values = None, MATCH_anyEPCClass: Values = None,  # noqa: N803
    EQ_bizStep: Values = None, EQ_readPoint: Values = None,  # noqa: N803
    EQ_bizLocation: Values = None,  # noqa: N803
    GE_eventTime: Annotated[str | None, Query(max_length=40)] = None,  # noqa: N803
    LT_eventTime: Annotated[str | None, Query(max_length=40)] = None,  # noqa: N803
    perPage: Annotated[int, Query(ge=1, le=epcis_query.MAX_PER_PAGE)] = 30,  # noqa: N803
    nextPageToken: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,  # noqa: N803
) -> EpcisResponse:  # fmt: skip
    """The ledger's movements as ObjectEvents, oldest first, in the caller's scope."""
    q = epcis_query.EventQuery(
        epcs=_values(MATCH_epc, MATCH_anyEPC),
        classes=_values(MATCH_epcClass, MATCH_anyEPCClass),
        biz_steps=_values(EQ_bizStep), read_points=_values(EQ_readPoint),
        biz_locations=_values(EQ_bizLocation),
        since=_time(GE_eventTime, "GE_eventTime"), until=_time(LT_eventTime, "LT_eventTime"),
        after=int(nextPageToken or 0), per_page=perPage,
    )  # fmt: skip
    with ledger.session() as s:
        found, next_after = epcis_query.query(s, user, q)
    headers = dict(HEADERS)
    if next_after is not None:
        following = request.url.include_query_params(nextPageToken=str(next_after))
        headers["Link"] = f'<{following}>; rel="next"'
    return EpcisResponse(query_document(found, ledger.clock.now()), headers=headers)
