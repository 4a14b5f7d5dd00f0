"""Time as an input: the ledger, alert evaluation, reports, the API and the CLI read the
current time from one `Clock` instead of the wall clock, so tests run on any date.

`today()` is the calendar day in the server's local time zone (a hospital's expiry day is
its local day); `now()` is always an aware UTC datetime.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, overload

from central.errors import Invalid


class Clock(Protocol):
    def now(self) -> datetime: ...

    def today(self) -> date: ...


class SystemClock:
    """The wall clock (production)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return self.now().astimezone().date()


@dataclass
class FixedClock:
    """A clock that moves only when told to (tests, replays)."""

    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")

    def now(self) -> datetime:
        return self.at.astimezone(UTC)

    def today(self) -> date:
        return self.at.date()

    def advance(self, delta: timedelta) -> None:
        self.at += delta


SYSTEM_CLOCK: Clock = SystemClock()


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """A datetime read from the database as an aware one: SQLite returns naive ones, which
    hwms always wrote in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def period(start: date | None, end: date | None, today: date) -> tuple[datetime, datetime]:
    """Dates to an UTC [start, end) period; default: the last 30 days."""
    stop = end or today + timedelta(days=1)
    first = start or stop - timedelta(days=30)
    if first >= stop:
        raise Invalid("start must be before end")
    return (
        datetime.combine(first, datetime.min.time(), UTC),
        datetime.combine(stop, datetime.min.time(), UTC),
    )


def shown_days(
    start: date | None, end: date | None, today: date, default_days: int = 30
) -> tuple[datetime, datetime]:
    """A form's From and To dates, both days included, to a UTC [start, end) period; by
    default the last `default_days` days up to today."""
    last = end or today
    first = start or last - timedelta(days=default_days - 1)
    return period(first, last + timedelta(days=1), today)
