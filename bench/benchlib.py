"""What the PostgreSQL benchmarks share: a throw-away schema and percentile figures."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text


@contextmanager
def pg_schema(admin_url: str) -> Iterator[str]:
    """A new schema in the database at `admin_url`, dropped afterwards: the URL to use."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"create schema {schema}"))
    try:
        yield f"{admin_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as c:
            c.execute(text(f"drop schema {schema} cascade"))
        admin.dispose()


def percentiles(samples: list[float]) -> str:
    """p50 and p95 of durations in seconds, in milliseconds."""
    q = statistics.quantiles(samples, n=20)
    return f"p50 {statistics.median(samples) * 1000:6.1f} ms, p95 {q[18] * 1000:6.1f} ms"
