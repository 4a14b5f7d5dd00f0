"""The gate demo: a seeded day at the central store's door, fed through the rules core.

Deliveries arrive through the gate (receiving), a cart leaves for a ward (picking), a
cart lingers in the doorway, stray reads and a tag with a factory EPC show up. Each batch
event is printed as it comes out. This is the rules-only demo until the edge daemon and
the ledger run the full system.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from readers.gate_stream import GateLayout, cart_pass, make_epcs, stray_reads
from rules.config import PortalConfig, RulesConfig, ZoneConfig, ZoneRule
from rules.epc import decode
from rules.events import BatchMovement, Event, to_json, us_to_iso
from rules.gateway import GatewayRules
from rules.identity import CommissionRecord
from rules.observations import SECOND, TagRead

GATE = GateLayout(reader="portal-store", inside=(1, 2), outside=(3, 4))
START_US = 1_795_000_000 * SECOND  # 2026-11-18T11:06:40Z


@dataclass(frozen=True, slots=True)
class Product:
    name: str
    gtin: str
    lot: str
    expiry: str
    cp_len: int = 7


PRODUCTS = (
    Product("Sodium chloride 0.9% 500 ml", "04012345000016", "L2611A", "2028-03-31"),
    Product("Cefazolin 2 g vial", "04012345000023", "C77812", "2027-06-30"),
    Product("Hip implant stem size 12", "04012345000030", "HX-5521", "2031-01-31"),
    Product("Surgical gloves 7.5", "04012345000047", "G25-118", "2029-12-31"),
)


def demo_config() -> RulesConfig:
    return RulesConfig(
        site="st-elsewhere",
        gateway="gw-store-1",
        zones=(ZoneConfig(name="central_store"), ZoneConfig(name="corridor")),
        portals=(
            PortalConfig(
                name="store-door",
                inside=tuple((GATE.reader, a) for a in GATE.inside),
                outside=tuple((GATE.reader, a) for a in GATE.outside),
                inside_zone="central_store",
                outside_zone="corridor",
                rssi_floor_dbm=-75.0,
            ),
        ),
        zone_rules=(
            ZoneRule(from_zone="corridor", to_zone="central_store", biz_step="receiving"),
            ZoneRule(from_zone="central_store", to_zone="corridor", biz_step="picking"),
        ),
    )


def recorded_stream(seed: int = 7) -> tuple[list[TagRead], dict[str, CommissionRecord]]:
    """The demo's read stream and the commissioning map made at receiving."""
    rng = random.Random(seed)
    commissioning: dict[str, CommissionRecord] = {}
    stock: dict[str, list[str]] = {}
    for i, p in enumerate(PRODUCTS):
        epcs = make_epcs(p.gtin, 1000 * (i + 1), 24 if i != 2 else 3, p.cp_len)
        stock[p.gtin] = epcs
        for e in epcs:
            commissioning[decode(e).uri] = CommissionRecord(
                gtin=p.gtin, lot=p.lot, expiry=p.expiry, company_prefix_length=p.cp_len
            )
    reads: list[TagRead] = []
    t = START_US
    # 1. morning delivery: saline + cefazolin on one cart
    delivery = stock[PRODUCTS[0].gtin] + stock[PRODUCTS[1].gtin]
    reads += cart_pass(rng, GATE, delivery, start_us=t, direction="IN")
    # 2. implants + gloves, plus two boxes nobody commissioned yet and a factory-EPC tag
    t += 40 * SECOND
    loose = make_epcs("04012345000054", 1, 2, 7)
    reads += cart_pass(
        rng,
        GATE,
        stock[PRODUCTS[2].gtin] + stock[PRODUCTS[3].gtin] + loose + ["E2801160600002084E5E8A31"],
        start_us=t,
        direction="IN",
    )
    # 3. a ward cart leaves with 6 saline and 4 gloves
    t += 60 * SECOND
    reads += cart_pass(
        rng,
        GATE,
        stock[PRODUCTS[0].gtin][:6] + stock[PRODUCTS[3].gtin][:4],
        start_us=t,
        direction="OUT",
    )
    # 4. stray reads of stock parked near the door all along
    reads += stray_reads(rng, GATE, stock[PRODUCTS[1].gtin], start_us=START_US, end_us=t, count=6)
    reads.sort(key=lambda r: r.t_us)
    return reads, commissioning


def run_stream(
    rules: GatewayRules, reads: list[TagRead], tick_us: int = SECOND // 10
) -> Iterator[Event]:
    """Feed reads in time order, ticking the rules as time passes; then flush."""
    next_tick = reads[0].t_us if reads else 0
    for read in reads:
        while read.t_us >= next_tick:
            yield from rules.tick(next_tick)
            next_tick += tick_us
        yield from rules.feed(read)
    end = (reads[-1].t_us if reads else 0) + 30 * SECOND
    while next_tick <= end:
        yield from rules.tick(next_tick)
        next_tick += tick_us
    yield from rules.flush(end)


def describe(ev: Event, names: dict[str, str]) -> str:
    if isinstance(ev, BatchMovement):
        what = names.get(ev.batch.gtin or "", ev.batch.gtin or "non-GS1 tags")
        lot = ev.batch.lot or "lot unknown (uncommissioned)"
        step = ev.biz_step or "no business step"
        return (
            f"{us_to_iso(ev.occurred_at_us)}  {ev.read_point:<10} {ev.direction.value:<7} "
            f"{ev.quantity:>3} x {what} [{lot}]  {ev.from_zone} -> {ev.to_zone}  "
            f"({step}, confidence {ev.confidence:.2f})"
        )
    return f"{us_to_iso(ev.occurred_at_us)}  {ev.kind}"


def main(out: TextIO = sys.stdout, as_json: bool = False, seed: int = 7) -> int:
    reads, commissioning = recorded_stream(seed)
    rules = GatewayRules(demo_config(), commissioning)
    names = {p.gtin: p.name for p in PRODUCTS}
    print(
        f"hwms gate demo: {len(reads)} tag reads at the central store door (seed {seed})", file=out
    )
    count = 0
    for ev in run_stream(rules, reads):
        count += 1
        print(json.dumps(to_json(ev)) if as_json else describe(ev, names), file=out)
    portal = rules.portals["store-door"]
    print(
        f"{count} batch events; {portal.stray_passes_total} stray passes ignored, "
        f"{rules.resolver.non_gs1_total} non-GS1 EPC(s) kept as raw reads",
        file=out,
    )
    return 0
