"""`hwms demo` (`make demo`): the whole system on one machine, and a scripted hospital day.

Separate processes, supervised (`supervisor.py`): a mosquitto broker on a free loopback
port, the central ledger (SQLite) and its HTTP API, the emulators (two LLRP portals, an OR
cabinet, two fridges on Modbus TCP) and an edge daemon configured from `data/` (package
data, so it runs from an installed wheel too). The day (`data/day.yaml`, `day.py`) is
played against them (`run.py`): receiving before the day, then carts, a nurse at the
cabinet, a fridge door left open, a recall. What happens is printed as it reaches the
broker (`narrate.py`); at the end the ledger's stock, open alerts and transport orders are
compared with the day's expected outcome (`outcome.py`). Everything stays up until Ctrl-C
unless `--exit`.
"""

from __future__ import annotations

from hwms_demo.day import MODBUS_SPEED, Day
from hwms_demo.run import DATA, add_command, run
from hwms_demo.supervisor import find_mosquitto

__all__ = ["DATA", "MODBUS_SPEED", "Day", "add_command", "find_mosquitto", "run"]
