"""Pack levels of a product (each, box, case, each level with its own GTIN where it has
one) and exact conversions between them: whole numbers only, never floats, so a count in
cases and a count in eaches never disagree by a rounding."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class PackError(ValueError):
    """A pack level that does not make sense, or a quantity that is not whole."""


@dataclass(frozen=True, slots=True, order=True)
class PackLevel:
    eaches: int  # how many of the product's base unit one pack holds (1: the each itself)
    level: str  # each, box, case, ...
    gtin: str = ""

    def __post_init__(self) -> None:
        if self.eaches < 1:
            raise PackError(f"a {self.level} holds at least one each, not {self.eaches}")

    def to_eaches(self, packs: int) -> int:
        return packs * self.eaches


def split(eaches: int, levels: Iterable[PackLevel]) -> list[tuple[PackLevel, int]]:
    """`eaches` as whole packs, the largest first, what is left in smaller ones: exact (the
    counts times their sizes add up to `eaches`). With the each level among `levels` it
    always succeeds; without it, PackError when something is left over."""
    if eaches < 0:
        raise PackError("a quantity is not negative")
    out, left = [], eaches
    for level in sorted(set(levels), reverse=True):
        n, left = divmod(left, level.eaches)
        if n:
            out.append((level, n))
    if left:
        raise PackError(f"{eaches} is not a whole number of the pack levels")
    return out
