"""Migrations and applying events to the ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from central import db
from central.ledger import Ledger
from central.models import Base, Discrepancy, Movement
from rules.events import Batch, BatchMovement, CabinetMovement, Direction, stamp
from tests.conftest import days, fixed_clock, wall_days

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
    return stamp(e, site="s1", gateway="gw1", seq=seq)


def ledger(url: str) -> Ledger:
    db.upgrade(url)
    return Ledger(db.engine(url), clock=fixed_clock())


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


def test_receive_csv_then_trace_a_batch(db_url: str, tmp_path: object) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    from central.ledger import ReceiptError, parse_receipt_csv

    lg = ledger(db_url)
    csv = (
        "epc,gtin,lot,expiry,location\n"
        + "".join(
            f"urn:epc:id:sgtin:4012345.000001.{i},04012345000016,L1,2030-01-31,s1/store\n"
            for i in range(1, 4)
        )
        + "3034F4E4E400004000000009,4012345000016,L1,2030-01-31,s1/store\n"
    )
    lines = parse_receipt_csv(csv)
    assert lines[3].epc == "urn:epc:id:sgtin:4012345.000001.9" and lines[3].gtin == "04012345000016"
    assert lg.receive(lines, actor="anna", today=days(0)) == 4
    assert lg.stock() == [
        {
            "location": "s1/store",
            "gtin": "04012345000016",
            "lot": "L1",
            "expiry": "2030-01-31",
            "quantity": 4,
        }
    ]
    # a picked unit shows up in the trace where it went
    lg.apply(move(Direction.OUT, "store", "ward-7", epcs(1)))
    trace = lg.trace("04012345000016", "L1")
    where = {u["epc"]: u["location"] for u in trace["units"]}
    assert where["urn:epc:id:sgtin:4012345.000001.1"] == "s1/ward-7"
    assert [m["kind"] for m in trace["movements"]] == ["receiving", "batch_movement"]
    # bad lines reject the whole receipt
    bad = parse_receipt_csv(
        "epc,gtin,lot,expiry,location\nurn:epc:id:sgtin:4012345.000001.50,04012345000016,L1,2020-01-01,s1/store\n"
        "urn:epc:id:sgtin:4012345.000001.51,04012345000017,L1,2030-01-01,s1/store\n"
    )
    try:
        lg.receive(bad, actor="anna", today=days(0))
        raise AssertionError("a bad receipt was booked")
    except ReceiptError as exc:
        assert "line 1: expiry 2020-01-01 is not in the future" in str(
            exc
        ) and "line 2: GTIN" in str(exc)
    # the CLI
    path = Path(str(tmp_path)) / "r.csv"
    path.write_text(
        "epc,gtin,lot,expiry,location\n"
        f"urn:epc:id:sgtin:4012345.000001.77,04012345000016,L2,{wall_days(1000)},s1/store\n"
    )
    root = Path(__file__).resolve().parents[2]
    run = [sys.executable, "-m", "hwms_cli", "central"]
    done = subprocess.run(
        [*run, "receive", "--db", db_url, "--csv", str(path)],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = subprocess.run([*run, "trace", "--db", db_url, "--gtin", "04012345000016", "--lot", "L2", "--json"],
                         capture_output=True, text=True, cwd=root, check=False)  # fmt: skip
    assert json.loads(out.stdout)["units"] == [
        {"epc": "urn:epc:id:sgtin:4012345.000001.77", "location": "s1/store"}
    ]
