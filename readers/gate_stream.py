"""Seeded, realistic read streams of carts passing an RFID gate (for the demo, tests, bench).

A cart crossing a portal is first in the outside antennas' field, then in both, then in the
inside field (reverse for OUT). Each tag is read a few times per second per antenna, with
missed reads, RSSI peaking mid-field plus noise, and occasional stray reads of tags parked
next to the gate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from rules.epc import encode_sgtin96
from rules.observations import SECOND, TagRead


@dataclass(frozen=True, slots=True, kw_only=True)
class GateLayout:
    reader: str
    inside: tuple[int, ...]
    outside: tuple[int, ...]


def make_epcs(gtin: str, first_serial: int, count: int, company_prefix_length: int) -> list[str]:
    return [
        encode_sgtin96(
            gtin, first_serial + i, filter=1, company_prefix_length=company_prefix_length
        )
        for i in range(count)
    ]


def epcs_from_spec(spec: dict[str, Any]) -> list[str]:
    """EPCs of a scenario entry: `epcs: [hex, ...]` and/or
    `items: [{gtin, first_serial, count, company_prefix_length}]`."""
    out = [str(e) for e in spec.get("epcs", [])]
    for item in spec.get("items", []):
        out += make_epcs(
            str(item["gtin"]),
            int(item.get("first_serial", 1)),
            int(item["count"]),
            int(item.get("company_prefix_length", 7)),
        )
    return out


def cart_pass(
    rng: random.Random,
    gate: GateLayout,
    epcs: list[str],
    *,
    start_us: int,
    direction: str = "IN",
    duration_s: float = 2.0,
    reads_per_s: float = 6.0,
    miss_rate: float = 0.25,
) -> list[TagRead]:
    """Reads of one cart crossing `gate`, sorted by time."""
    dur = int(duration_s * SECOND)
    first, second = (
        (gate.outside, gate.inside) if direction == "IN" else (gate.inside, gate.outside)
    )
    windows = ((first, 0, int(dur * 0.6)), (second, int(dur * 0.4), dur))
    reads: list[TagRead] = []
    for epc in epcs:
        offset = int(rng.uniform(-0.15, 0.15) * SECOND)  # position of the item on the cart
        for antennas, w0, w1 in windows:
            n = max(1, round(reads_per_s * (w1 - w0) / SECOND))
            for _ in range(n):
                if rng.random() < miss_rate:
                    continue
                t = rng.randint(w0, w1)
                x = (t - w0) / max(1, w1 - w0)
                rssi = -48.0 - 30.0 * abs(x - 0.5) + rng.gauss(0, 2.0)
                reads.append(
                    TagRead(
                        reader=gate.reader,
                        antenna=rng.choice(antennas),
                        epc_hex=epc,
                        t_us=start_us + max(0, t + offset),
                        rssi_dbm=round(rssi, 1),
                    )
                )
    reads.sort(key=lambda r: r.t_us)
    return reads


def stray_reads(
    rng: random.Random, gate: GateLayout, epcs: list[str], *, start_us: int, end_us: int, count: int
) -> list[TagRead]:
    """Single weak reads of tags parked near the gate: they must vanish in debouncing."""
    out = []
    for _ in range(count):
        out.append(
            TagRead(
                reader=gate.reader,
                antenna=rng.choice(gate.inside + gate.outside),
                epc_hex=rng.choice(epcs),
                t_us=rng.randint(start_us, end_us),
                rssi_dbm=round(rng.uniform(-80, -72), 1),
            )
        )
    out.sort(key=lambda r: r.t_us)
    return out
