"""Helpers of the central tests (each runs on SQLite and on PostgreSQL: `db_url`, in
tests/conftest.py)."""

from __future__ import annotations

from typing import Any


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
