"""Live screens: what changed is read from the database, not from this process, so every
web process of a scaled-out ledger sees every change whichever process or ledger made it.
One watcher per web process, while any screen listens (whatever the number of open
screens), reads a cheap mark (indexed maxima and two counts) and wakes every stream when
it changed. On PostgreSQL it reads the mark when the database says something changed
(LISTEN `hwms_change`, notified by triggers on alerts and movements, migration 0009), and
at the latest every FALLBACK_S; on SQLite it polls every POLL_S."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, func, select

from central.ledger import Ledger
from central.models import Alert, Movement
from central.vocab import OPEN_STATES, AlertState

POLL_S = 0.5  # SQLite: a new alert reaches an open screen within a second
FALLBACK_S = 5.0  # PostgreSQL: the mark is read at least this often, notified or not
STREAM_S = 600.0  # then the browser reconnects (EventSource does it alone)
CHECK_S = 5.0  # how often a quiet stream looks whether its browser went away

log = structlog.get_logger(__name__)


def change_mark(ledger: Ledger) -> tuple[int, int, int, int]:
    """What a live screen compares: the newest alert and movement, and the open and the
    acknowledged alerts."""
    with ledger.session() as s:
        newest_alert = s.scalar(select(func.max(Alert.id))) or 0
        newest_move = s.scalar(select(func.max(Movement.id))) or 0
        opened = s.scalar(select(func.count()).where(Alert.state.in_(OPEN_STATES))) or 0
        acked = s.scalar(select(func.count()).where(Alert.state == AlertState.ACKNOWLEDGED)) or 0
    return (newest_alert, newest_move, opened, acked)


class Notifications:
    """A dedicated PostgreSQL connection LISTENing on `hwms_change` (taken out of the pool);
    after a failure, reconnects at the next wait."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Any = None
        self._raw: Any = None  # the pool's wrapper, kept so that it never closes the connection

    def wait(self, timeout: float) -> bool:
        """Block until a notification (True) or `timeout` (False)."""
        try:
            if self._conn is None:
                self._raw = self.engine.raw_connection()
                self._raw.detach()  # this connection listens for as long as the process lives
                self._conn = self._raw.driver_connection
                self._conn.rollback()  # out of any transaction the pool's ping began
                self._conn.autocommit = True
                self._conn.execute("LISTEN hwms_change")
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                return True
            return False
        except Exception as exc:  # the database went away: poll until it is back
            log.warning("change notifications lost", error=str(exc).splitlines()[0][:200])
            self.close()
            time.sleep(min(timeout, 1.0))
            return False

    def close(self) -> None:
        """Stop listening: a connection that listens but is not read holds back the
        server's shared notification queue (which, full, would fail every NOTIFY)."""
        with contextlib.suppress(Exception):
            if self._conn is not None:
                self._conn.close()
        self._conn = self._raw = None


class ChangeWatch:
    def __init__(
        self, ledger: Ledger, poll_s: float = POLL_S, fallback_s: float = FALLBACK_S
    ) -> None:
        self.ledger = ledger
        self.poll_s = poll_s
        self.fallback_s = fallback_s
        pg = ledger.engine.dialect.name == "postgresql"
        self._notifications = Notifications(ledger.engine) if pg else None
        self.version = 0  # counts the changes seen
        self.polls = 0  # marks read, for tests
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def stream(self, gone: Callable[[], Awaitable[bool]]) -> AsyncIterator[int]:
        """The versions after each change, while the caller iterates (for STREAM_S at
        most) and `gone()` (the browser went away) is false."""
        loop = asyncio.get_running_loop()
        self._listeners += 1
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._changed = asyncio.Event()
            self._task = loop.create_task(self._poll())
        seen = self.version
        end = loop.time() + STREAM_S
        try:
            while loop.time() < end:
                changed = self._changed
                if self.version == seen:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), CHECK_S)
                if await gone():
                    return
                if self.version != seen:
                    seen = self.version
                    yield seen
        finally:
            self._listeners -= 1

    async def _poll(self) -> None:
        last = await run_in_threadpool(change_mark, self.ledger)
        while self._listeners > 0:
            if self._notifications is not None:
                await run_in_threadpool(self._notifications.wait, self.fallback_s)
            else:
                await asyncio.sleep(self.poll_s)
            mark = await run_in_threadpool(change_mark, self.ledger)
            self.polls += 1
            if mark != last:
                last = mark
                self.version += 1
                woken, self._changed = self._changed, asyncio.Event()
                woken.set()
        if self._notifications is not None:  # nobody listens: neither does the connection
            await run_in_threadpool(self._notifications.close)
