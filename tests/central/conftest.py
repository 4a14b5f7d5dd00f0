"""Helpers of the central tests (each runs on SQLite and on PostgreSQL: `db_url`, in
tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def finish_job(api: Any, accepted: Any, headers: dict[str, str], timeout_s: float = 60.0) -> Any:
    """Follow a 202 Accepted job (its Location) until it is done or failed; the job."""
    import time

    assert accepted.status_code == 202, accepted.text
    deadline = time.monotonic() + timeout_s
    while True:
        job = api.get(accepted.headers["Location"], headers=headers).json()
        if job["state"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.02)


_LEDGERS: list[Any] = []


def disposed(ledger: Any) -> Any:
    """A test's ledger, whose database connections are let go when the test ends
    (PostgreSQL allows few: a suite of engines left open runs out of them)."""
    _LEDGERS.append(ledger)
    return ledger


@pytest.fixture(autouse=True)
def _dispose_ledgers() -> Iterator[None]:
    yield
    while _LEDGERS:
        _LEDGERS.pop().engine.dispose()


SIGNING_PASSWORD = "correct horse battery"


def signed(ledger: Any, user: str, reason: str = "checked", role: str = "quality") -> Any:
    """`user`'s signature (made a login user of `role` when new), as an action takes it."""
    from central import accounts
    from central.models import AppUser
    from central.signatures import sign_as

    with ledger.session.begin() as s:
        found = s.get(AppUser, user)
        if found is None or found.role is None:
            accounts.add_user(s, user, role=role, password=SIGNING_PASSWORD)
        else:  # a login user of the test: their password, to sign with
            found.password_hash = accounts._hasher.hash(SIGNING_PASSWORD)
    return sign_as(ledger.session.begin, user, SIGNING_PASSWORD, reason, ledger.clock.now())
