"""Benchmark of the rules pipeline and the EPC decoder; prints figures, asserts nothing.

Stream: 10 portals, 20 000 tagged items, carts of 20–200 items crossing in both
directions, about 1 000 reads/s per portal. Figures: reads/s through decode -> presence ->
direction -> batch aggregation on one core, the ratio to a bare loop over the same reads,
and EPC decodes/s against epcpy measured in the same run.

    python bench/bench_rules.py [--items 20000] [--reads 600000]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from readers.gate_stream import GateLayout, cart_pass, make_epcs
from rules.config import PortalConfig, RulesConfig, ZoneConfig, ZoneRule
from rules.epc import decode, gs1_check_digit
from rules.gateway import GatewayRules
from rules.observations import SECOND, TagRead

T0 = 1_800_000_000 * SECOND
PORTALS = 10


def hospital_stream(items: int, max_reads: int, seed: int = 1) -> list[TagRead]:
    rng = random.Random(seed)
    gtins = []
    for i in range(200):
        body = f"0401234{i:05d}0"[:13]
        gtins.append(body + gs1_check_digit(body))
    per_gtin = items // len(gtins)
    stock = [make_epcs(g, 1, per_gtin, 7) for g in gtins]  # 100 items of each product
    reads: list[TagRead] = []
    clock = [T0] * PORTALS
    while len(reads) < max_reads:
        p = rng.randrange(PORTALS)
        gate = GateLayout(reader=f"portal-{p}", inside=(1, 2), outside=(3, 4))
        size = rng.randint(20, 200)
        products = rng.sample(stock, rng.randint(1, 6))  # a cart holds a few batches
        pool = [e for group in products for e in group]
        cart = rng.sample(pool, min(size, len(pool)))
        # ~20 reads/s per tag and antenna group, a cart every 2.2 s: ~1 000 reads/s per portal
        batch = cart_pass(
            rng,
            gate,
            cart,
            start_us=clock[p],
            direction=rng.choice(["IN", "OUT"]),
            reads_per_s=20.0,
            miss_rate=0.2,
        )
        reads.extend(batch)
        clock[p] += int(2.2 * SECOND)
    reads.sort(key=lambda r: r.t_us)
    return reads[:max_reads]


def config() -> RulesConfig:
    return RulesConfig(
        site="bench",
        gateway="gw",
        zones=(ZoneConfig(name="store"), ZoneConfig(name="corridor")),
        portals=tuple(
            PortalConfig(
                name=f"door-{p}",
                inside=((f"portal-{p}", 1), (f"portal-{p}", 2)),
                outside=((f"portal-{p}", 3), (f"portal-{p}", 4)),
                inside_zone="store",
                outside_zone="corridor",
            )
            for p in range(PORTALS)
        ),
        zone_rules=(ZoneRule(from_zone="corridor", to_zone="store", biz_step="receiving"),),
    )


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    n = fn()
    return time.perf_counter() - start, n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--reads", type=int, default=600_000)
    args = parser.parse_args()
    reads = hospital_stream(args.items, args.reads)
    span_s = (reads[-1].t_us - reads[0].t_us) / SECOND
    print(
        f"stream: {len(reads)} reads over {span_s:.0f} s of portal time "
        f"({len(reads) / span_s / PORTALS:.0f} reads/s per portal), {args.items} items"
    )

    def bare() -> int:
        n = 0
        for r in reads:
            if r.t_us:
                n += 1
        return n

    def pipeline() -> int:
        rules = GatewayRules(config())
        events = 0
        next_tick = reads[0].t_us
        tick = SECOND // 10
        feed = rules.feed
        for r in reads:
            if r.t_us >= next_tick:
                events += len(rules.tick(next_tick))
                next_tick = r.t_us + tick
            events += len(feed(r))
        events += len(rules.flush(next_tick + 60 * SECOND))
        return events

    bare_s, _ = timed(bare)
    pipe_s, events = timed(pipeline)
    print(f"bare loop:        {len(reads) / bare_s:>12,.0f} reads/s")
    print(
        f"rules pipeline:   {len(reads) / pipe_s:>12,.0f} reads/s  ({events} batch events; "
        f"{pipe_s / bare_s:.1f}x the bare loop's time)"
    )

    unique = list(dict.fromkeys(r.epc_hex for r in reads))[:20_000]

    def ours() -> int:
        for h in unique:
            decode(h)
        return len(unique)

    ours_s, _ = timed(ours)
    print(f"EPC decode hwms:  {len(unique) / ours_s:>12,.0f} decodes/s")
    try:
        from epcpy import hex_to_tag_encodable  # type: ignore[attr-defined]
    except ImportError:
        print("EPC decode epcpy:  not installed")
        return

    def theirs() -> int:
        for h in unique:
            hex_to_tag_encodable(h).epc_uri  # noqa: B018
        return len(unique)

    theirs_s, _ = timed(theirs)
    print(
        f"EPC decode epcpy: {len(unique) / theirs_s:>12,.0f} decodes/s  "
        f"(hwms is {theirs_s / ours_s:.1f}x faster)"
    )


if __name__ == "__main__":
    main()
