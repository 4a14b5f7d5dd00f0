"""The live screens' watcher: one mark read per interval (SQLite) or per notification
(PostgreSQL: LISTEN, with a fallback too slow to explain the test) for every open stream
of a web process; each stream woken by a change made elsewhere; a stream that ends stops
the watching."""

from __future__ import annotations

import asyncio
import time

from central import alerts
from central.web.live import ChangeWatch
from tests.central.test_ledger import ledger
from tests.conftest import TEST_NOW


def test_one_watcher_for_many_streams_and_every_stream_woken(db_url: str) -> None:
    lg = ledger(db_url)
    pg = db_url.startswith("postgresql")
    watch = ChangeWatch(lg, poll_s=0.05, fallback_s=60.0)

    async def not_gone() -> bool:
        return False

    async def listen(got: list[int]) -> None:
        async for version in watch.stream(not_gone):
            got.append(version)
            return

    async def scenario() -> float:
        got: list[list[int]] = [[] for _ in range(25)]
        tasks = [asyncio.create_task(listen(g)) for g in got]
        await asyncio.sleep(0.5)
        assert all(g == [] for g in got)  # nothing changed yet
        changed_at = time.monotonic()
        with lg.session.begin() as s:  # a change made by someone else
            alerts.raise_once(s, alerts.Condition("recall", "7", "critical", "locked"), TEST_NOW)
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        assert got == [[1]] * 25
        took = time.monotonic() - changed_at
        with lg.session.begin() as s:  # wakes the watcher, which finds nobody listening
            alerts.raise_once(s, alerts.Condition("recall", "8", "critical", "locked"), TEST_NOW)
        if watch._task is not None:  # the watcher stops, and closes its connection
            await asyncio.wait_for(watch._task, 10)
        return took

    took = asyncio.run(scenario())
    assert took < 3.0  # on PostgreSQL only the notification can explain that (fallback 60 s)
    if pg:
        assert watch.polls <= 3  # read when notified, not polled
        assert watch._notifications is not None and watch._notifications._conn is None
    else:
        assert 5 <= watch.polls <= 25  # 25 streams, ~0.5 s at 0.05 s: one poller, not 25
    assert watch._listeners == 0
    lg.engine.dispose()
