"""Live screens: what changed is read from the database, not from this process, so every
web process of a scaled-out ledger sees every change whichever process or ledger made it.
One watcher per web process polls a cheap mark (indexed maxima and two counts) while any
screen listens, whatever the number of open screens, and wakes every stream on a change."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select

from central.ledger import Ledger
from central.models import Alert, Movement
from central.vocab import OPEN_STATES, AlertState

POLL_S = 0.5  # a new alert reaches an open screen within a second
STREAM_S = 600.0  # then the browser reconnects (EventSource does it alone)
CHECK_S = 5.0  # how often a quiet stream looks whether its browser went away


def change_mark(ledger: Ledger) -> tuple[int, int, int, int]:
    """What a live screen compares: the newest alert and movement, and the open and the
    acknowledged alerts."""
    with ledger.session() as s:
        newest_alert = s.scalar(select(func.max(Alert.id))) or 0
        newest_move = s.scalar(select(func.max(Movement.id))) or 0
        opened = s.scalar(select(func.count()).where(Alert.state.in_(OPEN_STATES))) or 0
        acked = s.scalar(select(func.count()).where(Alert.state == AlertState.ACKNOWLEDGED)) or 0
    return (newest_alert, newest_move, opened, acked)


class ChangeWatch:
    def __init__(self, ledger: Ledger, poll_s: float = POLL_S) -> None:
        self.ledger = ledger
        self.poll_s = poll_s
        self.version = 0  # counts the changes seen
        self.polls = 0  # database reads made, for tests
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
            await asyncio.sleep(self.poll_s)
            mark = await run_in_threadpool(change_mark, self.ledger)
            self.polls += 1
            if mark != last:
                last = mark
                self.version += 1
                woken, self._changed = self._changed, asyncio.Event()
                woken.set()
