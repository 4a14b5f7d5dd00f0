"""Hostile LLRP readers against the edge's reader supervision (defaults of `LlrpSettings`);
prints figures, asserts nothing.

1. a reader that announces a 4 GiB frame and streams filler: time from the header to the
   connection being dropped, bytes the reader got to send, growth of this process's RSS,
   CPU time spent;
2. a reader that goes silent after set-up (half-open): time from its last word to `down`;
3. a healthy reader under load (reports every 10 ms): false `down`s in 20 s.

    python bench/bench_hostile.py
"""

from __future__ import annotations

import queue
import resource
import time
from typing import Any

from readers.llrp import LlrpReader, LlrpSettings
from readers.llrp_emulator import LlrpEmulator
from rules.observations import Observation, ReaderState, ReaderStatus


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait_state(q: queue.Queue[Observation], state: ReaderState, timeout: float) -> ReaderStatus:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            obs = q.get(timeout=0.05)
        except queue.Empty:
            continue
        if isinstance(obs, ReaderStatus) and obs.state == state:
            return obs
    raise TimeoutError(f"no {state.value} in {timeout} s")


def reader(emu: LlrpEmulator, **kw: Any) -> tuple[LlrpReader, queue.Queue[Observation]]:
    q: queue.Queue[Observation] = queue.Queue()
    settings = LlrpSettings(reader_id="bench", host="127.0.0.1", port=emu.port, **kw)
    return LlrpReader(settings, q.put_nowait).start(), q


def giant_frame() -> None:
    emu = LlrpEmulator({"events": []}).start()
    r, q = reader(emu)
    try:
        wait_state(q, ReaderState.UP, 10)
        before, cpu0 = rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_utime
        t0 = time.monotonic()
        emu.send_giant_frame()
        down = wait_state(q, ReaderState.DOWN, 120)
        took = time.monotonic() - t0
        cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu0
        print(f"giant frame: dropped after {took * 1000:.0f} ms ({down.reason}); "
              f"reader sent {emu.giant_bytes_sent / 1e6:.1f} MB; RSS {before:.0f} -> "
              f"{rss_mb():.0f} MB; CPU {cpu * 1000:.0f} ms")  # fmt: skip
    finally:
        r.stop()
        emu.close()


def silent_reader() -> None:
    emu = LlrpEmulator({"events": []}).start()
    r, q = reader(emu)
    try:
        wait_state(q, ReaderState.UP, 10)
        time.sleep(3)
        t0 = time.monotonic()
        emu.go_silent()
        down = wait_state(q, ReaderState.DOWN, 120)
        print(f"silent reader: down after {time.monotonic() - t0:.1f} s "
              f"(keepalive {r.settings.keepalive_s} s, dead after {r.settings.dead_after_s} s; "
              f"{down.reason})")  # fmt: skip
    finally:
        r.stop()
        emu.close()


def busy_reader(seconds: float = 20.0) -> None:
    epcs = [f"3074257BF7194E40000{n:05X}" for n in range(100)]
    scenario = {"events": [{"at": 0.0, "shelf": {"antenna": 1, "rssi": -60, "every": 0.01,
                                                 "until": seconds + 5, "epcs": epcs}}]}  # fmt: skip
    emu = LlrpEmulator(scenario).start()
    r, q = reader(emu)
    try:
        wait_state(q, ReaderState.UP, 10)
        end = time.monotonic() + seconds
        downs = reads = 0
        while time.monotonic() < end:
            try:
                obs = q.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(obs, ReaderStatus) and obs.state == ReaderState.DOWN:
                downs += 1
            elif not isinstance(obs, ReaderStatus):
                reads += 1
        print(f"busy reader: {reads / seconds:.0f} reads/s for {seconds:.0f} s, "
              f"{downs} false down(s)")  # fmt: skip
    finally:
        r.stop()
        emu.close()


if __name__ == "__main__":
    giant_frame()
    silent_reader()
    busy_reader()
