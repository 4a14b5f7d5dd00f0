"""The audit chain's contract: canonical encoding, links, the walk that finds the first
record that does not follow, checkpoints as published."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.audit_chain import (
    GENESIS,
    ChainWalk,
    Checkpoint,
    Record,
    canonical,
    canonical_key,
    checkpoint_payload,
    record_hash,
)

AT = "2026-11-24T08:00:00.000000Z"


def chain_of(contents: list[str], chain: str = "s1") -> list[Record]:
    out, prev = [], GENESIS
    for seq, content in enumerate(contents, start=1):
        key = canonical_key([seq])
        h = record_hash(prev, chain, seq, "movement", key, "put", AT, content)
        out.append(Record(chain, seq, "movement", key, "put", AT, content, prev, h))
        prev = h
    return out


def first_break(records: list[Record], chain: str = "s1") -> str | None:
    walk = ChainWalk(chain)
    for r in records:
        problem = walk.feed(r)
        if problem is not None:
            return str(problem)
    return None


def test_canonical_is_one_encoding_of_the_same_values() -> None:
    a = {
        "b": 1,
        "a": "x\ny",
        "at": datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=1))),
        "d": date(2026, 1, 2),
        "price": Decimal("12.50"),
        "gone": None,
        "ok": True,
    }
    b = {
        "ok": True,
        "price": Decimal("12.5"),
        "d": date(2026, 1, 2),
        "a": "x\ny",
        "at": datetime(2026, 1, 1, 8),
        "b": 1,
    }
    assert canonical(a) == canonical(b)
    assert canonical(a) == (
        '{"a":"x\\ny","at":"2026-01-01T08:00:00.000000Z","b":1,'
        '"d":"2026-01-02","ok":true,"price":"12.5"}'
    )
    assert "\n" not in canonical(a)
    assert canonical({"n": Decimal("0.00")}) == canonical({"n": Decimal("-0")}) == '{"n":"0"}'


@given(st.lists(st.text(max_size=30), min_size=1, max_size=20))
def test_an_untouched_chain_walks_to_its_end(contents: list[str]) -> None:
    records = chain_of([canonical({"v": c}) for c in contents])
    walk = ChainWalk("s1")
    assert all(walk.feed(r) is None for r in records)
    assert (walk.seq, walk.hash) == (len(records), records[-1].hash)


@given(st.lists(st.integers(0, 1000), min_size=2, max_size=20), st.data())
def test_any_change_removal_or_insertion_is_found_where_it_is(
    values: list[int], data: st.DataObject
) -> None:
    records = chain_of([canonical({"v": v}) for v in values])
    i = data.draw(st.integers(0, len(records) - 1))
    how = data.draw(st.sampled_from(["edit", "delete", "insert", "relink"]))
    r = records[i]
    changed = list(records)
    if how == "edit":
        changed[i] = Record(
            r.chain,
            r.seq,
            r.table,
            r.key,
            r.op,
            r.at,
            canonical({"v": values[i] + 1}),
            r.prev,
            r.hash,
        )
    elif how == "delete":
        del changed[i]
    elif how == "insert":
        changed.insert(
            i, Record(r.chain, r.seq, r.table, r.key, r.op, r.at, r.content, r.prev, r.hash)
        )
    else:  # a record rehashed after its change: the next one no longer links to it
        content = canonical({"v": values[i] + 1})
        h = record_hash(r.prev, r.chain, r.seq, r.table, r.key, r.op, r.at, content)
        changed[i] = Record(r.chain, r.seq, r.table, r.key, r.op, r.at, content, r.prev, h)
    problem = first_break(changed)
    if how == "delete" and i == len(records) - 1:
        assert problem is None  # a removed last record is found by the head and checkpoints
    elif how == "relink" and i == len(records) - 1:
        assert problem is None  # likewise: only a checkpoint vouches for the newest record
    else:
        assert problem is not None
        at = i + 2 if how in ("relink", "insert") else i + 1
        assert f"record {at}:" in problem


def test_a_walk_from_an_anchor_starts_after_it() -> None:
    records = chain_of(["a", "b", "c"])
    walk = ChainWalk("s1", after_seq=1, after_hash=records[0].hash)
    assert walk.feed(records[1]) is None
    assert walk.feed(records[2]) is None
    wrong = ChainWalk("s1", after_seq=1, after_hash="f" * 64)
    assert "does not link" in str(wrong.feed(records[1]))


def test_a_checkpoint_round_trips_and_its_payload_is_canonical() -> None:
    cp = Checkpoint("s1", 7, "a" * 64, AT, "b" * 64, "c" * 128)
    assert Checkpoint.loads(cp.dumps()) == cp
    assert cp.payload() == checkpoint_payload("s1", 7, "a" * 64, AT)
    assert cp.payload() == (
        b'{"at":"2026-11-24T08:00:00.000000Z","chain":"s1","hash":"' + b"a" * 64 + b'","seq":7}'
    )


@given(st.binary(max_size=400) | st.text(max_size=400))
def test_checkpoint_parser_takes_any_input_without_crashing(data: bytes | str) -> None:
    with contextlib.suppress(ValueError):
        Checkpoint.loads(data)


@pytest.mark.parametrize("field", ["hash", "public_key", "signature"])
def test_a_checkpoint_with_a_malformed_field_is_refused(field: str) -> None:
    import json

    body = json.loads(Checkpoint("s1", 7, "a" * 64, AT, "b" * 64, "c" * 128).dumps())
    body[field] = "zz"
    with pytest.raises(ValueError, match=field):
        Checkpoint.loads(json.dumps(body))


def test_naive_times_are_utc() -> None:
    assert canonical({"t": datetime(2026, 1, 1)}) == canonical(
        {"t": datetime(2026, 1, 1, tzinfo=UTC)}
    )


ROW_VALUES = (
    st.none()
    | st.text(max_size=20)
    | st.integers()
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.dates()
    | st.datetimes(timezones=st.none() | st.just(UTC))
)


@given(st.dictionaries(st.text(min_size=1, max_size=12), ROW_VALUES, max_size=12))
def test_canonical_is_what_json_writes_of_the_encoded_values(row: dict[str, object]) -> None:
    import json

    from rules.audit_chain import RowEncoder, _value

    expected = json.dumps(
        {k: _value(v) for k, v in row.items() if v is not None},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert canonical(row) == expected
    encoder = RowEncoder(row)
    assert encoder.encode([row[k] for k in encoder.names]) == expected
