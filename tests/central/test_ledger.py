"""Migrations and applying events to the ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from central import db
from central.ledger import Ledger
from central.models import Base, Discrepancy, Movement
from rules.events import Batch, BatchMovement, CabinetMovement, Direction, stamp

T = 1_800_000_000_000_000
SALINE = Batch(gtin="04012345000016", lot="L1", expiry="2028-03-31", company_prefix_length=7)


def epcs(n: int, start: int = 1) -> tuple[str, ...]:
    return tuple(f"urn:epc:id:sgtin:4012345.000001.{i}" for i in range(start, start + n))


def move(
    direction: Direction,
    frm: str | None,
    to: str | None,
    tags: tuple[str, ...],
    t: int = T,
    seq: int = 1,
) -> BatchMovement:
    e = BatchMovement(
        occurred_at_us=t, read_point="door", direction=direction, from_zone=frm, to_zone=to,
        biz_step="receiving" if direction == Direction.IN else "picking", batch=SALINE,
        quantity=len(tags), epcs=tags, first_seen_us=t, last_seen_us=t, confidence=1.0,
        uncommissioned=False,
    )  # fmt: skip
    return stamp(e, site="s1", gateway="gw1", seq=seq)  # type: ignore[return-value]


def ledger(url: str) -> Ledger:
    db.upgrade(url)
    return Ledger(db.engine(url))


def test_migrations_build_exactly_the_models(db_url: str) -> None:
    db.upgrade(db_url)
    eng = db.engine(db_url)
    with eng.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    db.downgrade(db_url, "base")
    db.upgrade(db_url)


def test_receive_then_pick_moves_stock_and_journals(db_url: str) -> None:
    lg = ledger(db_url)
    assert lg.apply(move(Direction.IN, "corridor", "store", epcs(10)))
    assert lg.stock() == [
        {
            "location": "s1/store",
            "gtin": "04012345000016",
            "lot": "L1",
            "expiry": "2028-03-31",
            "quantity": 10,
        }
    ]
    assert lg.apply(move(Direction.OUT, "store", "corridor", epcs(4), t=T + 60_000_000, seq=2))
    stock = {(r["location"], r["quantity"]) for r in lg.stock()}
    assert stock == {("s1/store", 6), ("s1/corridor", 4)}
    with lg.session() as s:
        assert s.query(Movement).count() == 2
        assert s.query(Discrepancy).count() == 0


def test_duplicate_is_not_applied_twice(db_url: str) -> None:
    lg = ledger(db_url)
    e = move(Direction.IN, "corridor", "store", epcs(5))
    assert lg.apply(e) is True
    assert lg.apply(e) is False
    assert lg.stock()[0]["quantity"] == 5


def test_leaving_an_unknown_place_is_a_discrepancy_not_negative_stock(db_url: str) -> None:
    lg = ledger(db_url)
    assert lg.apply(move(Direction.OUT, "store", "corridor", epcs(3)))
    assert {(r["location"], r["quantity"]) for r in lg.stock()} == {("s1/corridor", 3)}
    with lg.session() as s:
        assert s.query(Discrepancy).count() == 3


def test_an_older_event_does_not_move_a_tag_back(db_url: str) -> None:
    lg = ledger(db_url)
    lg.apply(move(Direction.IN, "corridor", "store", epcs(2), t=T + 10_000_000, seq=2))
    lg.apply(move(Direction.OUT, "store", "corridor", epcs(2), t=T, seq=1))  # arrives late
    assert {(r["location"], r["quantity"]) for r in lg.stock()} == {("s1/store", 2)}


def test_cabinet_take_and_return_attributed(db_url: str) -> None:
    lg = ledger(db_url)
    lg.apply(move(Direction.IN, "store", "or-3", epcs(4)))
    take = CabinetMovement(
        occurred_at_us=T + 1_000_000, cabinet="or-3", zone="or-3", action="take", batch=SALINE,
        quantity=2, epcs=epcs(2), user_id="nurse-7", case_id="case-1", session_id="x",
        attributed=True, uncommissioned=False,
    )  # fmt: skip
    assert lg.apply(stamp(take, site="s1", gateway="gw1", seq=2))
    assert {(r["location"], r["quantity"]) for r in lg.stock()} == {("s1/or-3", 2)}
    with lg.session() as s:
        m = s.query(Movement).filter(Movement.kind == "cabinet_take").one()
        assert (m.actor, m.case_id, m.quantity, m.to_location_id) == ("nurse-7", "case-1", 2, None)
