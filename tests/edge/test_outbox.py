"""The durable outbox: commit point, order, idempotency, drop policy, disk full."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.outbox import NewRow, Outbox


def row(i: int, kind: str = "batch_movement") -> NewRow:
    return NewRow(event_id=f"e{i}", kind=kind, topic=f"t/{kind}", payload=b"x" * 100, created_us=i)


def test_append_peek_delete_in_order_and_idempotent(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db")
    assert ob.append([row(i) for i in range(10)], {"seq": b"10"}) == 10
    assert ob.append([row(3), row(4)]) == 0  # replays are ignored by event_id
    first = ob.peek(0, 4)
    assert [r.event_id for r in first] == ["e0", "e1", "e2", "e3"]
    assert [r.event_id for r in ob.peek(first[-1].id, 100)] == [f"e{i}" for i in range(4, 10)]
    ob.mark_published(r.id for r in first)  # rows without a seq go on PUBACK
    assert ob.depth() == 6 and ob.oldest_created_us() == 4
    assert ob.get_state("seq") == b"10"
    ob.close()
    again = Outbox(tmp_path / "o.db")  # survives reopening (a restart)
    assert again.depth() == 6


def test_drop_policy_takes_oldest_telemetry_never_movements(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", max_rows=1000, max_telemetry_age_s=100)
    ob.append([row(i, "reader_status") for i in range(600)])
    ob.append([row(1000 + i) for i in range(600)])
    assert ob.enforce_limits(now_us=0) == 200
    kinds = [r.kind for r in ob.peek(0, 10_000)]
    assert kinds.count("batch_movement") == 600 and kinds.count("reader_status") == 400
    ob.append([row(5000 + i) for i in range(600)])  # 1600 rows: the rest of the telemetry goes
    assert ob.enforce_limits(now_us=0) == 400
    kinds = [r.kind for r in ob.peek(0, 10_000)]
    assert kinds == ["batch_movement"] * 1200  # over the limit, but movements are never dropped
    assert ob.dropped_total == {"telemetry": 600, "movement": 0}


def test_telemetry_ages_out(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", max_telemetry_age_s=100)
    ob.append([row(i, "sensor_status") for i in range(10)] + [row(100 + i) for i in range(10)])
    assert ob.enforce_limits(now_us=50_000_000) == 0
    assert ob.enforce_limits(now_us=200_000_000) == 10
    assert ob.depth() == 10


def test_disk_full_drops_telemetry_first(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    ob = Outbox(path)
    ob.append([NewRow(event_id=f"s{i}", kind="sensor_status", topic="t", payload=b"s" * 2000, created_us=i)
               for i in range(30)])  # fmt: skip
    ob.append([row(100 + i) for i in range(50)])
    # cap the database at its current size: the next append cannot grow it
    pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]
    ob._db.execute(f"PRAGMA max_page_count = {pages + 1}")
    big = [NewRow(event_id=f"b{i}", kind="batch_movement", topic="t", payload=b"y" * 2000, created_us=i)
           for i in range(20)]  # fmt: skip
    ob.append(big)
    kinds = [r.kind for r in ob.peek(0, 10_000)]
    assert kinds.count("sensor_status") < 30  # telemetry made room
    assert ob.dropped_total == {"telemetry": 30 - kinds.count("sensor_status"), "movement": 0}
    assert kinds.count("batch_movement") == 70  # every movement kept, old and new


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["append", "ack"]), st.integers(1, 30)), max_size=40))
def test_nothing_is_lost_or_reordered(tmp_path_factory: object, ops: list[tuple[str, int]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        ob = Outbox(Path(tmp) / "o.db")
        sent: list[str] = []
        acked: list[str] = []
        n = 0
        for op, k in ops:
            if op == "append":
                ob.append([row(n + i) for i in range(k)])
                sent += [f"e{n + i}" for i in range(k)]
                n += k
            else:
                rows = ob.peek(0, k)
                ob.mark_published(r.id for r in rows)
                acked += [r.event_id for r in rows]
        rest = [r.event_id for r in ob.peek(0, 10**6)]
        assert acked + rest == sent
        ob.close()


def test_rows_wait_for_the_ledgers_acknowledgement_not_the_brokers(tmp_path: Path) -> None:
    from rules.progress import SeqProgress

    ob = Outbox(tmp_path / "o.db")
    rows = [NewRow(event_id=f"e{i}", kind="batch_movement", topic="t", payload=b"x",
                   created_us=1000 + i, seq=i) for i in range(1, 11)]  # fmt: skip
    ob.append(rows)
    ob.mark_published(r.id for r in ob.peek(0, 6))  # the broker has seqs 1..6
    assert ob.depth() == 4 and ob.unacknowledged() == (6, 1, 1001)
    assert ob.last_published_id() == 6  # a restart resumes sending after them
    assert ob.acknowledge(SeqProgress(2, ((4, 5),))) == 4  # committed: 1, 2, 4, 5
    assert [r.event_id for r in ob.peek(0, 100)] == ["e3", "e6", "e7", "e8", "e9", "e10"]
    assert ob.unacknowledged() == (2, 3, 1003)
    assert ob.acknowledge(SeqProgress(10, ())) == 6 and ob.peek(0, 100) == []
    assert ob.last_published_id() == 0  # nothing left to skip


def test_an_outbox_of_the_previous_version_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL"
               " UNIQUE, kind TEXT NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL,"
               " telemetry INTEGER NOT NULL, created_us INTEGER NOT NULL)")  # fmt: skip
    db.execute("INSERT INTO outbox (event_id, kind, topic, payload, telemetry, created_us)"
               " VALUES ('old', 'batch_movement', 't', x'00', 0, 1)")  # fmt: skip
    db.commit()
    db.close()
    ob = Outbox(path)
    assert ob.depth() == 1
    ob.mark_published(r.id for r in ob.peek(0, 10))  # no seq: it goes on its PUBACK
    assert ob.peek(0, 10) == [] and ob.unacknowledged() == (0, None, None)
