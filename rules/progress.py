"""What the ledger has committed of a gateway's events, by sequence number: the
end-to-end acknowledgement (ledger -> edge) and its wire form.

An edge stamps every event with the next `seq` of its gateway. The ledger records each
committed seq (a duplicate's too: its content is committed under another seq) and publishes
the result, retained, on `hwms/v1/<site>/<gateway>/ack`: `committed` is the highest seq
below which nothing is missing, `above` the committed ranges past the first hole. The
edge keeps every event until an acknowledgement covers it; a broker's PUBACK only means
the broker has it, which a broker crash can undo.

Plain values, no IO; merged in any order (a set union), so several ledgers agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

MAX_RANGES: Final = 1000  # ranges past the first hole kept on the wire


class ProgressError(ValueError):
    """An acknowledgement payload that is not valid."""


@dataclass(frozen=True, slots=True)
class SeqProgress:
    committed: int = 0  # every seq in 1..committed is committed
    above: tuple[tuple[int, int], ...] = ()  # sorted, disjoint, > committed + 1

    def add(self, seqs: Iterable[int]) -> SeqProgress:
        """The progress with `seqs` committed too (idempotent, order-free)."""
        ranges = list(self.above)
        for s in sorted(set(seqs)):
            if s <= self.committed:
                continue
            if ranges and ranges[-1][0] <= s <= ranges[-1][1] + 1:
                ranges[-1] = (ranges[-1][0], max(ranges[-1][1], s))
            else:
                ranges.append((s, s))
        merged: list[tuple[int, int]] = []
        for a, b in sorted(ranges):
            if merged and a <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        committed = self.committed
        while merged and merged[0][0] <= committed + 1:
            committed = max(committed, merged.pop(0)[1])
        return SeqProgress(committed, tuple(merged))

    def covers(self, seq: int) -> bool:
        return seq <= self.committed or any(a <= seq <= b for a, b in self.above)

    @property
    def first_missing(self) -> int | None:
        """The first seq not committed although a later one is (a hole), if any."""
        return self.committed + 1 if self.above else None

    def to_json(self) -> dict[str, Any]:
        return {"schema": 1, "committed": self.committed,
                "above": [list(r) for r in self.above[:MAX_RANGES]]}  # fmt: skip

    def dumps(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


def loads(payload: bytes) -> SeqProgress:
    """Parse an acknowledgement; ProgressError says why it is not one."""
    if len(payload) > 64 * 1024:
        raise ProgressError(f"acknowledgement of {len(payload)} bytes")
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise ProgressError(f"acknowledgement is not JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict) or data.get("schema") != 1:
        raise ProgressError("acknowledgement must be a schema 1 object")
    committed, above = data.get("committed"), data.get("above", [])
    if not isinstance(committed, int) or isinstance(committed, bool) or committed < 0:
        raise ProgressError("committed must be a non-negative integer")
    if not isinstance(above, list) or len(above) > MAX_RANGES:
        raise ProgressError("above must be a list of at most 1000 ranges")
    ranges: list[tuple[int, int]] = []
    for r in above:
        if not (isinstance(r, list) and len(r) == 2 and all(type(x) is int for x in r)):
            raise ProgressError("each range must be [first, last]")
        a, b = r
        if not committed + 1 < a <= b or (ranges and a <= ranges[-1][1] + 1):
            raise ProgressError("ranges must be sorted, disjoint and past a hole")
        ranges.append((a, b))
    return SeqProgress(committed, tuple(ranges))
