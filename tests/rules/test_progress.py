"""The ledger's acknowledgement of committed sequence numbers: merge in any order, exact
coverage, a strict parser."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.progress import ProgressError, SeqProgress, loads


def from_scratch(seqs: set[int]) -> SeqProgress:
    return SeqProgress().add(seqs)


@given(st.lists(st.sets(st.integers(1, 300), max_size=40), max_size=6))
def test_merging_in_any_split_and_order_equals_the_union(parts: list[set[int]]) -> None:
    union = set().union(*parts)
    p = SeqProgress()
    for part in parts:
        p = p.add(part)
    assert p == from_scratch(union)
    assert p == SeqProgress().add(union).add(union)  # idempotent
    for s in range(1, 310):
        assert p.covers(s) == (s in union), s
    assert p.committed == next(i for i in range(0, 400) if i + 1 not in union)
    assert (p.first_missing is None) == (not union or max(union) == p.committed)
    assert loads(p.dumps()) == p


def test_a_hole_holds_the_watermark_until_it_fills() -> None:
    p = SeqProgress().add([1, 2, 3, 5, 6, 9])
    assert (p.committed, p.above, p.first_missing) == (3, ((5, 6), (9, 9)), 4)
    p = p.add([4])
    assert (p.committed, p.above) == (6, ((9, 9),))
    assert p.add([7, 8]) == SeqProgress(9, ())


@pytest.mark.parametrize(
    "payload",
    [b"", b"[]", b'{"schema": 2, "committed": 1}', b'{"schema": 1, "committed": -1}',
     b'{"schema": 1, "committed": true}', b'{"schema": 1, "committed": 3, "above": [[4, 5]]}',
     b'{"schema": 1, "committed": 3, "above": [[9, 7]]}',
     b'{"schema": 1, "committed": 3, "above": [[6, 7], [7, 9]]}',
     b'{"schema": 1, "committed": 3, "above": [[6, "7"]]}', b"[" * 5000 + b"]" * 5000],
)  # fmt: skip
def test_bad_acknowledgements_are_refused(payload: bytes) -> None:
    with pytest.raises(ProgressError):
        loads(payload)


@given(st.binary(max_size=120))
def test_fuzz_the_parser(payload: bytes) -> None:
    with contextlib.suppress(ProgressError):
        loads(payload)
