"""Moves the wall clock of every Python process of a test run (pytest and the ledgers,
edges and emulators it starts) by HWMS_TEST_CLOCK_SHIFT_DAYS days, with time-machine.

`make timeshift` puts this folder on PYTHONPATH, so that Python imports it at start-up in
each process. Only the wall clock moves (time.time, datetime.now, date.today); the
monotonic clock, which timeouts use, stays real.
"""

from __future__ import annotations

import os

_shift = os.environ.get("HWMS_TEST_CLOCK_SHIFT_DAYS")
if _shift:
    from datetime import UTC, datetime, timedelta

    import time_machine

    _traveller = time_machine.travel(datetime.now(UTC) + timedelta(days=int(_shift)), tick=True)
    _traveller.start()
