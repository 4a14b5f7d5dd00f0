"""Scan parse rate on one core: hwms's `parse_scan` against `biip.parse` alone on the same
GS1 inputs in the same run, and HIBC (hwms only: biip has none). Prints, asserts nothing.

The mix is what a store's scanners send: DataMatrix UDIs with symbology identifier and GS
separators, GS1-128 case labels, Digital Link QR codes and bare EAN-13s.

    python bench/bench_scan.py [--scans 20000]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import date, timedelta

import biip

from rules import epc, hibc
from rules.scan import parse_scan


def _gtin(rnd: random.Random) -> str:
    body = "0" + "".join(rnd.choice("0123456789") for _ in range(12))
    return body + epc.gs1_check_digit(body)


def gs1_inputs(n: int, rnd: random.Random) -> list[str]:
    out = []
    for i in range(n):
        gtin, lot, serial = _gtin(rnd), f"L{rnd.randrange(10**6)}", str(rnd.randrange(10**9))
        exp = date(2027, 1, 1) + timedelta(days=rnd.randrange(1500))
        kind = i % 4
        if kind == 0:
            out.append(f"]d201{gtin}17{exp:%y%m%d}10{lot}\x1d21{serial}")
        elif kind == 1:
            out.append(f"]C101{gtin}17{exp:%y%m%d}10{lot}")
        elif kind == 2:
            out.append(f"https://id.gs1.org/01/{gtin}/10/{lot}/21/{serial}?17={exp:%y%m%d}")
        else:
            out.append(gtin[1:])
    return out


def hibc_inputs(n: int, rnd: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        label = hibc.HibcLabel(form="concatenated", lic="A123", pcn=f"P{rnd.randrange(10**8)}",
                               uom=rnd.randrange(10), lot=f"L{rnd.randrange(10**6)}",
                               expiry=date(2028, 5, 1), date_format="3")  # fmt: skip
        out.append(hibc.encode_concatenated(label))
    return out


def rate(fn: Callable[[str], object], inputs: list[str], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for text in inputs:
            fn(text)
        best = min(best, time.perf_counter() - t0)
    return len(inputs) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scans", type=int, default=20_000)
    args = ap.parse_args()
    rnd = random.Random(7)
    gs1, labels = gs1_inputs(args.scans, rnd), hibc_inputs(args.scans, rnd)
    assert all(parse_scan(t).gtin for t in gs1[:100])  # the inputs parse (not a timing)
    ours, theirs = rate(parse_scan, gs1), rate(biip.parse, gs1)
    print(f"GS1 mix, {args.scans} scans, one core (best of 3):")
    print(f"  hwms parse_scan  {ours:10,.0f} scans/s")
    print(f"  biip.parse alone {theirs:10,.0f} scans/s  (hwms/biip = {ours / theirs:.2f})")
    print(f"HIBC concatenated: {rate(parse_scan, labels):10,.0f} scans/s (biip reads no HIBC)")


if __name__ == "__main__":
    main()
