"""The live screens' watcher: one database poll per interval for every open stream of a
web process, each stream woken by a change made elsewhere, a stream that ends stops the
polling."""

from __future__ import annotations

import asyncio
from pathlib import Path

from central import alerts
from central.web.live import ChangeWatch
from tests.central.test_ledger import ledger
from tests.conftest import TEST_NOW


def test_one_poll_for_many_streams_and_every_stream_woken(tmp_path: Path) -> None:
    lg = ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    watch = ChangeWatch(lg, poll_s=0.05)

    async def not_gone() -> bool:
        return False

    async def listen(got: list[int]) -> None:
        async for version in watch.stream(not_gone):
            got.append(version)
            return

    async def scenario() -> list[list[int]]:
        got: list[list[int]] = [[] for _ in range(25)]
        tasks = [asyncio.create_task(listen(g)) for g in got]
        await asyncio.sleep(0.5)
        assert all(g == [] for g in got)  # nothing changed yet
        with lg.session.begin() as s:  # a change made by someone else
            alerts.raise_once(s, alerts.Condition("recall", "7", "critical", "locked"), TEST_NOW)
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return got

    got = asyncio.run(scenario())
    assert got == [[1]] * 25
    assert 5 <= watch.polls <= 20  # 25 streams, ~0.5 s at 0.05 s: one poller, not 25
    assert watch._listeners == 0
