"""What every route of the API depends on: the ledger, the caller's role, bounded path and
query parameters, and the refusal of query parameters a route does not take."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from central import accounts, signatures
from central.accounts import Principal, hash_token
from central.errors import Forbidden, Invalid
from central.jobs import Jobs
from central.ledger import Ledger
from central.schemas import LOT_PATTERN, MAX_ID
from central.signatures import Signed
from central.vocab import Permission, Role

ROLES = tuple(Role)


_bearer = HTTPBearer(auto_error=False)


def _ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


def _jobs(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


def current_user(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The user a bearer token acts for: a token issued in the database
    (`hwms central token add`), or one of a tokens file (`--tokens`, SHA-256 hashes)."""
    found: Principal | None = None
    if creds is not None:
        entry = request.app.state.tokens.get(hash_token(creds.credentials))
        if entry is not None and entry.get("role") in ROLES:
            supplier = entry.get("supplier") if entry["role"] == Role.SUPPLIER else None
            found = Principal(user=str(entry["user"]), role=Role(entry["role"]),
                              supplier=str(supplier) if supplier else None)  # fmt: skip
        else:
            with _ledger(request).session.begin() as s:
                found = accounts.by_token(s, creds.credentials)
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required")
    return found


def need(permission: Permission) -> Any:
    def check(user: Annotated[Principal, Depends(current_user)]) -> Principal:
        if not user.may(permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"the {user.role} role may not {permission}"
            )
        return user

    return check


def in_scope(ledger: Ledger, who: Principal, codes: list[str]) -> None:
    """Forbidden unless every location is in the user's scope (their sites and departments)."""
    with ledger.session() as s:
        outside = accounts.outside_scope(s, who, codes)
    if outside:
        raise Forbidden(f"outside your scope: {', '.join(outside[:5])}")


LedgerDep = Annotated[Ledger, Depends(_ledger)]
JobsDep = Annotated[Jobs, Depends(_jobs)]
Reader = Annotated[Principal, Depends(need(Permission.READ))]
Acknowledger = Annotated[Principal, Depends(need(Permission.ACKNOWLEDGE))]
Receiver = Annotated[Principal, Depends(need(Permission.RECEIVE))]
Booker = Annotated[Principal, Depends(need(Permission.BOOK))]
Counter = Annotated[Principal, Depends(need(Permission.STOCKTAKE))]
Locker = Annotated[Principal, Depends(need(Permission.LOCK))]
Admin = Annotated[Principal, Depends(need(Permission.ADMINISTER))]
# routes the hospital's people and its suppliers share (purchase orders): the ledger checks
User = Annotated[Principal, Depends(current_user)]


def _hospital_reader(user: Reader) -> Principal:
    """Figures of the whole hospital are for users without a scope."""
    if user.sites or user.departments:
        raise Forbidden("hospital-wide figures need a user without a site or department scope")
    return user


HospitalReader = Annotated[Principal, Depends(_hospital_reader)]

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
GtinPath = Annotated[str, Path(pattern=r"^[0-9]{1,14}$")]
LotPath = Annotated[str, Path(pattern=LOT_PATTERN)]
Days = Annotated[int, Query(ge=1, le=3650)]


_QUERY_NAMES: dict[tuple[str, str], frozenset[str]] = {}


def known_query(request: Request) -> None:
    """Unknown query parameters are refused, not ignored: `?locaton=ward-5` must not
    answer with the whole hospital's stock; nor is a parameter taken twice."""
    route = request.scope.get("route")
    if route is None or not request.query_params or not getattr(route, "include_in_schema", 1):
        return  # the web pages validate their own few parameters
    key = (request.method.lower(), route.path)
    known = _QUERY_NAMES.get(key)
    if known is None:  # the OpenAPI document says what each operation takes
        operation = request.app.openapi()["paths"].get(route.path, {}).get(key[0], {})
        params = operation.get("parameters", [])
        known = frozenset(p["name"] for p in params if p["in"] == "query")
        _QUERY_NAMES[key] = known
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise Invalid(f"unknown query parameter(s) {unknown[:5]}; known: {sorted(known)}")
    repeated = sorted(k for k in known if len(request.query_params.getlist(k)) > 1)
    if repeated:  # which of the values would count is a guess
        raise Invalid(f"query parameter(s) {repeated} given twice")


def signature(ledger: Ledger, who: Principal, password: str | None, reason: str) -> Signed | None:
    """The caller's signature when they gave their password (checked now), else None: the
    action refuses to go on unsigned where it must be signed."""
    return signatures.if_given(ledger.session.begin, who, password, reason, ledger.clock.now())


def plain(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """The ledger's errors keep their plain JSON body on routes that answer another media
    type (FHIR, EPCIS JSON-LD)."""
    return {code: r | {"content": {"application/json": {}}} for code, r in responses.items()}
