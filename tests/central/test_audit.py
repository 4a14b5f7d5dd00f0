"""The tamper-evident ledger on SQLite and PostgreSQL: what hwms writes verifies; a row
edited, deleted or inserted behind it, a chain record changed or removed, a chain rewritten
behind a signed checkpoint are each named; `hwms central audit verify` exits non-zero."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from central import accounts, audit_checkpoints, db
from central.api import create_app
from central.audit_verify import signed as signature_holds
from central.audit_verify import verify
from central.ledger import Ledger, ReceiptLine
from rules.audit_chain import GENESIS, Checkpoint, canonical_key, record_hash
from rules.events import dumps
from tests.central.conftest import disposed, signed
from tests.central.test_ledger import epcs
from tests.central.test_operations import GTIN, stocked
from tests.conftest import ROOT, TEST_NOW, Mosquitto, days, fixed_clock, ledger_process


def day_of_work(db_url: str) -> Ledger:
    """Receipts, bookings, a stocktake, a recall lock: rows in several chains."""
    lg: Ledger = disposed(stocked(db_url, 6))
    e = epcs(6)
    lg.book("scrap", location="s1/store", user="anna", reason="broken vial", epcs=e[:1])
    lg.receive(
        [
            ReceiptLine(epc=x, gtin=GTIN, lot="L2", expiry=days(90), location="s2/store")
            for x in epcs(3, 100)
        ],
        actor="sam",
        today=days(-300),
    )
    lg.lock_batch(GTIN, "L1", locked=True, signed=signed(lg, "quinn", "recall R-1"))
    taken = lg.stocktake("s1/store", list(e[1:4]), user="sam", source="handheld")
    lg.confirm_stocktake(taken["id"], signed=signed(lg, "sam", role="storekeeper"))
    return lg


def check(lg: Ledger, **kwargs: object) -> tuple[bool, str]:
    with lg.engine.connect() as c:
        got = verify(c, **kwargs)  # type: ignore[arg-type]
    return got.intact, got.summary()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hwms_cli", "central", "audit", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_what_hwms_writes_verifies_per_site(db_url: str) -> None:
    lg = day_of_work(db_url)
    intact, summary = check(lg)
    assert intact, summary
    with lg.engine.connect() as c:
        q = text("select chain, count(*) from audit_record group by chain")
        chains: dict[str, int] = dict(c.execute(q).all())
        tables = {r[0] for r in c.execute(text("select distinct table_name from audit_record"))}
    assert set(chains) == {"-", "s1", "s2"}
    assert {"movement", "batch", "location", "receipt", "stocktake", "stocktake_line"} <= tables
    done = cli("verify", "--db", db_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("intact:") and "records/s" in done.stdout


@pytest.mark.tampers
@pytest.mark.parametrize(
    ("sql", "named"),
    [
        (
            "update movement set quantity = 7 where id = (select min(id) from movement)",
            "edited outside hwms",
        ),
        ("update batch set locked = false", "batch [1]: edited outside hwms"),
        ("delete from stocktake_line", "deleted outside hwms"),
        (
            "insert into department (code, name) values ('icu2', 'ICU 2')",
            'department ["icu2"]: inserted outside hwms',
        ),
    ],
)
def test_a_row_changed_behind_hwms_is_named(db_url: str, sql: str, named: str) -> None:
    lg = day_of_work(db_url)
    with lg.engine.begin() as c:
        c.execute(text(sql))
    intact, summary = check(lg)
    assert not intact
    assert named in summary
    done = cli("verify", "--db", db_url)
    assert done.returncode == 7
    assert named in done.stderr and done.stderr.startswith("NOT INTACT")


@pytest.mark.tampers
def test_a_chain_record_changed_or_removed_is_named(db_url: str) -> None:
    lg = day_of_work(db_url)
    with lg.engine.begin() as c:
        c.execute(
            text(
                "update audit_record set content = replace(content, 'broken', 'fine')"
                " where content like '%broken vial%'"
            )
        )
    intact, summary = check(lg)
    assert not intact and "was changed" in summary
    with lg.engine.begin() as c:
        c.execute(text("delete from audit_record where chain = 's1' and seq = 2"))
    intact, summary = check(lg)
    assert "chain 's1' record 2: missing" in summary


@pytest.mark.tampers
def test_a_chain_rewritten_behind_a_checkpoint_is_found(db_url: str, tmp_path: Path) -> None:
    lg = day_of_work(db_url)
    key_file = tmp_path / "audit.pem"
    public = cli("keygen", "--out", str(key_file)).stdout.strip()
    signed = cli("checkpoint", "--db", db_url, "--key-file", str(key_file))
    assert signed.returncode == 0, signed.stderr
    assert check(lg, public_key=public)[0]
    assert "not pinned" not in check(lg, public_key=public)[1]
    # someone edits a movement and recomputes the whole chain after it: it links again...
    with lg.engine.begin() as c:
        c.execute(text("update movement set reason = 'counted' where reason = 'broken vial'"))
        rows = c.execute(
            text(
                "select chain, seq, table_name, key, op, at, content from"
                " audit_record where chain = '-' order by seq"
            )
        ).all()
        prev = GENESIS
        for chain, seq, table, key, op, at, was in rows:
            content = was.replace("broken vial", "counted")
            h = record_hash(prev, chain, seq, table, key, op, at, content)
            c.execute(
                text(
                    "update audit_record set content = :c, prev = :p, hash = :h"
                    " where chain = :ch and seq = :s"
                ),
                {"c": content, "p": prev, "h": h, "ch": chain, "s": seq},
            )
            prev = h
        c.execute(text("update audit_head set hash = :h where chain = '-'"), {"h": prev})
    # ... (the scrap is in the hospital-wide chain only when its location has no site)
    intact, summary = check(lg, public_key=public)
    assert not intact
    assert "rewritten" in summary or "edited outside hwms" in summary


@pytest.mark.tampers
def test_checkpoints_signed_by_another_key_or_forged_are_refused(
    db_url: str, tmp_path: Path
) -> None:
    lg = day_of_work(db_url)
    key = audit_checkpoints.load_key(_pem(tmp_path / "a.pem"))
    other = audit_checkpoints.public_hex(audit_checkpoints.load_key(_pem(tmp_path / "b.pem")))
    with lg.session.begin() as s:
        made = audit_checkpoints.make_checkpoints(s, key, TEST_NOW)
    assert {cp.chain for cp in made} == {"-", "s1", "s2"}
    with lg.session.begin() as s:
        assert audit_checkpoints.make_checkpoints(s, key, TEST_NOW) == []  # nothing grew
    intact, summary = check(lg, public_key=other)
    assert not intact and "another key" in summary
    with lg.engine.begin() as c:
        c.execute(text("update audit_checkpoint set seq = seq + 1 where chain = 's1'"))
    intact, summary = check(lg)
    assert not intact and "signature does not match" in summary


def _pem(path: Path) -> str:
    audit_checkpoints.new_key(path)
    return path.read_text()


@pytest.mark.tampers
def test_removed_newest_records_are_found_by_the_head_and_the_checkpoint(
    db_url: str, tmp_path: Path
) -> None:
    lg = day_of_work(db_url)
    key = audit_checkpoints.load_key(_pem(tmp_path / "a.pem"))
    with lg.session.begin() as s:
        audit_checkpoints.make_checkpoints(s, key, TEST_NOW)
    with lg.engine.begin() as c:
        last = c.execute(text("select max(seq) from audit_record where chain = 's2'")).scalar()
        c.execute(text("delete from audit_record where chain = 's2' and seq = :s"), {"s": last})
    intact, summary = check(lg)
    assert not intact and f"record {last} was signed (records were removed)" in summary


def test_since_walks_from_the_last_checkpoint_before_it(db_url: str, tmp_path: Path) -> None:
    lg = day_of_work(db_url)
    key = audit_checkpoints.load_key(_pem(tmp_path / "a.pem"))
    with lg.session.begin() as s:
        audit_checkpoints.make_checkpoints(s, key, datetime(2020, 1, 1, tzinfo=UTC))
    lg.book("loss", location="s1/store", user="anna", reason="not found", epcs=epcs(6)[2:3])
    with lg.engine.connect() as c:
        full, since = verify(c), verify(c, since=datetime(2021, 1, 1, tzinfo=UTC))
    assert full.intact and since.intact, since.summary()
    assert since.records < full.records and since.chains["s1"] >= 1
    done = cli("verify", "--db", db_url, "--since", "2021-01-01")
    assert done.returncode == 0, done.stderr


def test_concurrent_writers_never_fork_a_chain(db_url: str) -> None:
    lg = disposed(stocked(db_url, 40))
    other = disposed(Ledger(db.engine(db_url), clock=fixed_clock()))
    e = epcs(40)
    errors: list[BaseException] = []

    def scrap(ledger: Ledger, items: tuple[str, ...]) -> None:
        try:
            for x in items:
                ledger.book("scrap", location="s1/store", user="anna", reason="r", epcs=(x,))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=scrap, args=(lg, e[0:40:2])),
        threading.Thread(target=scrap, args=(other, e[1:40:2])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    intact, summary = check(lg)
    assert intact, summary
    with lg.engine.connect() as c:
        moves = c.execute(
            text(
                "select count(*) from audit_record where table_name = 'movement'"
                " and content like '%scrap%'"
            )
        ).scalar()
    assert moves == 40


def test_the_migration_chains_the_rows_already_there(db_url: str) -> None:
    db.upgrade(db_url, "0017")
    eng = db.engine(db_url)
    with eng.begin() as c:
        c.execute(
            text(
                "insert into location (id, code, name, kind) values"
                " (1, 's1/store', 'store', 'zone')"
            )
        )
        c.execute(
            text(
                "insert into product (gtin, name, unit, category, cold_chain_class,"
                " high_value, controlled, unit_price) values"
                " ('04012345000016', 'Saline', 'EA', '', '', false, false, 1.50)"
            )
        )
        c.execute(
            text(
                "insert into batch (id, gtin, lot, expiry, supplier, locked) values"
                " (1, '04012345000016', 'L1', '2028-03-31', '', false)"
            )
        )
    eng.dispose()
    db.upgrade(db_url)
    lg = disposed(Ledger(db.engine(db_url), clock=fixed_clock()))
    intact, summary = check(lg)
    assert intact, summary
    assert "3 records in 2 chains" in summary


def test_checkpoints_are_served(db_url: str, tmp_path: Path) -> None:
    lg = day_of_work(db_url)
    key = audit_checkpoints.load_key(_pem(tmp_path / "a.pem"))
    with lg.session.begin() as s:
        audit_checkpoints.make_checkpoints(s, key, TEST_NOW)
        accounts.add_user(s, "auditor", role="system", password="x" * 12)
        token = accounts.add_token(s, "auditor", TEST_NOW)
    api = TestClient(create_app(lg, {}))
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get("/audit/checkpoints").status_code == 401
    got = api.get("/audit/checkpoints", headers=auth)
    assert got.status_code == 200, got.text
    assert {c["chain"] for c in got.json()} == {"-", "s1", "s2"}
    one = api.get("/audit/checkpoints", params={"chain": "s2"}, headers=auth).json()
    assert len(one) == 1 and audit_checkpoints_verify(one[0])


def audit_checkpoints_verify(body: dict[str, object]) -> bool:
    import json

    return signature_holds(Checkpoint.loads(json.dumps(body)))


def test_keys_and_rows_encode_alike() -> None:
    assert canonical_key([1]) == "[1]" and canonical_key(["a", 2]) == '["a",2]'


def test_the_running_ledger_signs_and_publishes_checkpoints(
    db_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """`hwms central run` with a signing key (a credentials file): after an event, the
    chain head of its site is signed, kept and published retained on MQTT, where a
    client that subscribes later still finds it."""
    import json

    import yaml

    from tests.central.test_ingest import publisher, receipt
    from tests.support import client, until

    key_file = tmp_path / "audit.pem"
    public = audit_checkpoints.public_hex(audit_checkpoints.new_key(key_file))
    config = tmp_path / "central.yaml"
    config.write_text(yaml.safe_dump({
        "db": db_url, "mqtt": {"port": mosquitto.port, "client_id": "ledger-audit"},
        "audit": {"signing_key_file": str(key_file), "checkpoint_every_s": 1},
        "notify_every_s": 0.2,
    }))  # fmt: skip
    db.upgrade(db_url)
    proc = ledger_process("ledger-audit", config=config)
    pub = publisher(mosquitto.port)
    lg = disposed(Ledger(db.engine(db_url), clock=fixed_clock()))
    try:
        time.sleep(2)
        pub.publish("hwms/v1/s1/gw1/events/batch_movement", dumps(receipt(0, 3)), qos=1)
        until(lambda: sum(r["quantity"] for r in lg.stock()) == 3, timeout=30)
        with lg.session() as s:
            until(lambda: any(c.chain == "s1" for c in audit_checkpoints.latest(s)), timeout=30)
        got: list[bytes] = []
        later = client(mosquitto.port, "auditor")  # subscribes after it was published
        later.on_message = lambda _c, _u, msg: got.append(bytes(msg.payload))
        later.subscribe("hwms/v1/central/audit/s1", qos=1)
        until(lambda: got, timeout=15)
        later.loop_stop()
        cp = Checkpoint.loads(got[-1])
        assert cp.chain == "s1" and cp.public_key == public and signature_holds(cp)
        assert check(lg, public_key=public)[0]
        assert json.loads(got[-1])["alg"] == "Ed25519"
    finally:
        pub.loop_stop()
        proc.terminate()
        proc.wait(timeout=30)
