"""Pack levels convert exactly: whole packs, no rounding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.packs import PackError, PackLevel, split

EACH, BOX, CASE = (
    PackLevel(1, "each"),
    PackLevel(10, "box", "14012345000013"),
    PackLevel(120, "case"),
)


def test_split_largest_first() -> None:
    assert split(265, [EACH, BOX, CASE]) == [(CASE, 2), (BOX, 2), (EACH, 5)]
    assert split(0, [EACH, BOX]) == []
    assert BOX.to_eaches(3) == 30


def test_refusals() -> None:
    with pytest.raises(PackError, match="whole number"):
        split(25, [BOX, CASE])  # no each level: 5 are left over
    with pytest.raises(PackError, match="at least one"):
        PackLevel(0, "box")
    with pytest.raises(PackError, match="negative"):
        split(-1, [EACH])


@given(st.integers(0, 10**9), st.lists(st.integers(2, 10_000), max_size=4))
def test_split_adds_up_exactly(eaches: int, sizes: list[int]) -> None:
    levels = [EACH, *(PackLevel(n, f"pack of {n}") for n in sizes)]
    parts = split(eaches, levels)
    assert sum(level.to_eaches(n) for level, n in parts) == eaches
    assert all(n > 0 for _, n in parts)
