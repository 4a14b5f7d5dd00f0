"""The durable outbox: every event is committed here before anything else sees it.

SQLite in WAL mode with `synchronous=FULL`, so a committed batch survives a killed process
and a power cut. A row is marked `published` when the broker acknowledged it (PUBACK) and
leaves only when the ledger's acknowledgement covers its `seq` (`acknowledge`): a broker
that crashes loses what it had not written to disk, the ledger's commit is what counts.
Rows without a seq (from before seqs were stored, or `delete_on: puback`) leave on their
PUBACK. The explicit, counted and logged drop policy covers every row: past `max_rows`, the oldest
telemetry (status events) goes first; movements and alarms are never dropped unless the
disk is full. A small key/value table keeps the edge's own state (sequence number, rules
snapshot, commissioning map) in the same database, so one commit covers both.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

from rules.progress import SeqProgress

log = structlog.get_logger(__name__)

TELEMETRY_KINDS = frozenset({"reader_status", "sensor_status"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    telemetry INTEGER NOT NULL,
    created_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_telemetry ON outbox (telemetry, id);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL,
    failed_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    event_id: str
    kind: str
    topic: str
    payload: bytes
    created_us: int


@dataclass(frozen=True, slots=True)
class NewRow:
    event_id: str
    kind: str
    topic: str
    payload: bytes
    created_us: int
    seq: int | None = None  # None: forgotten on the broker's PUBACK, not the ledger's ack


def _runs(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted ids -> contiguous (first, last) ranges: acks mostly arrive in order."""
    out: list[tuple[int, int]] = []
    for i in ids:
        if out and out[-1][1] == i - 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


class Outbox:
    def __init__(
        self, path: Path, *, max_rows: int = 2_000_000, max_telemetry_age_s: float = 7 * 86400
    ) -> None:
        self.path = path
        self.max_rows = max_rows
        self.max_telemetry_age_us = int(max_telemetry_age_s * 1_000_000)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}
            if "seq" not in columns:  # an outbox of an earlier version: its rows keep seq NULL
                self._db.execute("ALTER TABLE outbox ADD COLUMN seq INTEGER")
                self._db.execute(
                    "ALTER TABLE outbox ADD COLUMN published INTEGER NOT NULL DEFAULT 0"
                )
            self._db.execute("CREATE INDEX IF NOT EXISTS outbox_seq ON outbox (seq)")
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS outbox_published ON outbox (published, id)"
            )
        self.appended_total = 0
        self.deleted_total = 0
        self.dropped_total: dict[str, int] = {"telemetry": 0, "movement": 0}
        self.dead_lettered_total = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writing ---------------------------------------------------------------------

    def append(
        self,
        rows: Iterable[NewRow],
        state: dict[str, bytes] | None = None,
        journal: list[bytes] | None = None,
    ) -> int:
        """Commit rows, state and journal entries in one transaction: the commit point.
        Duplicates by `event_id` are ignored (a replayed observation yields the same id).
        With rows the commit is synchronous (FULL); journal and state alone survive a killed
        process (WAL), a power cut may take their last fraction of a second."""
        items = [
            (r.event_id, r.kind, r.topic, r.payload, int(r.kind in TELEMETRY_KINDS), r.created_us,
             r.seq)
            for r in rows
        ]  # fmt: skip
        for attempt in range(8):
            try:
                return self._append(items, state, journal or [])
            except sqlite3.OperationalError as exc:
                if "full" not in str(exc).lower():
                    raise
                log.error("outbox disk full: dropping to make room", error=str(exc))
                if not self._make_room(max(1, len(items)) * 2**attempt):
                    raise
        return self._append(items, state, journal or [])

    def _append(
        self,
        items: list[tuple[str, str, str, bytes, int, int, int | None]],
        state: dict[str, bytes] | None,
        journal: list[bytes],
    ) -> int:
        with self._lock:
            cur = self._db.cursor()
            if not items:
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                cur.executemany(
                    "INSERT OR IGNORE INTO outbox"
                    " (event_id, kind, topic, payload, telemetry, created_us, seq)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    items,
                )
                added = self._db.total_changes - before
                for key, value in (state or {}).items():
                    cur.execute(
                        "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, value)
                    )
                if journal:
                    cur.executemany(
                        "INSERT INTO journal (entry) VALUES (?)", [(j,) for j in journal]
                    )
                cur.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
                    cur.execute("ROLLBACK")
                raise
            finally:
                if not items:
                    cur.execute("PRAGMA synchronous=FULL")
        self.appended_total += added
        return added

    def mark_published(self, ids: Iterable[int]) -> None:
        """The broker has these rows (PUBACK): they wait for the ledger's acknowledgement;
        rows without a seq are forgotten now. Without fsync: a mark or delete lost to a
        power cut only means a resend, which the ledger drops as a duplicate."""
        runs = _runs(sorted(set(ids)))
        if not runs:
            return
        with self._unsynced():
            before = self._db.total_changes
            self._db.executemany(
                "DELETE FROM outbox WHERE id BETWEEN ? AND ? AND seq IS NULL", runs
            )
            deleted = self._db.total_changes - before
            self._db.executemany("UPDATE outbox SET published = 1 WHERE id BETWEEN ? AND ?", runs)
        self.deleted_total += deleted

    def acknowledge(self, progress: SeqProgress) -> int:
        """Forget the rows the ledger has committed; returns how many."""
        spans = [(0, progress.committed), *progress.above]
        with self._unsynced():
            before = self._db.total_changes
            self._db.executemany("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", spans)
            deleted = self._db.total_changes - before
        self.deleted_total += deleted
        return deleted

    @contextlib.contextmanager
    def _unsynced(self) -> Iterator[None]:
        """One transaction without fsync, for changes a power cut may undo harmlessly (a
        resend the ledger drops as a duplicate); appends of events stay fully synchronous."""
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

    def dead_letter(self, row: Row, reason: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO dead_letter"
                " (id, event_id, topic, payload, reason, failed_us)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (row.id, row.event_id, row.topic, row.payload, reason, time.time_ns() // 1000),
            )
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row.id,))
            self._db.execute("COMMIT")
        self.dead_lettered_total += 1
        log.error("event dead-lettered", event_id=row.event_id, topic=row.topic, reason=reason)

    # --- reading ---------------------------------------------------------------------

    def peek(self, after_id: int, limit: int) -> list[Row]:
        with self._lock:
            cur = self._db.execute(
                "SELECT id, event_id, kind, topic, payload, created_us FROM outbox"
                " WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            )
            return [Row(*r) for r in cur.fetchall()]

    def existing(self, event_ids: list[str]) -> set[str]:
        """Which of these events the outbox holds already."""
        found: set[str] = set()
        with self._lock:
            for i in range(0, len(event_ids), 500):
                chunk = event_ids[i : i + 500]
                marks = ",".join("?" * len(chunk))
                cur = self._db.execute(
                    f"SELECT event_id FROM outbox WHERE event_id IN ({marks})", chunk
                )
                found.update(str(r[0]) for r in cur.fetchall())
        return found

    def depth(self) -> int:
        """Rows the broker does not have yet."""
        with self._lock:
            return int(
                self._db.execute("SELECT COUNT(*) FROM outbox WHERE published = 0").fetchone()[0]
            )

    def unacknowledged(self) -> tuple[int, int | None, int | None]:
        """Rows the broker has but the ledger has not acknowledged: how many, the id and
        the creation time of the oldest."""
        with self._lock:
            n, first, created = self._db.execute(
                "SELECT COUNT(*), MIN(id), MIN(created_us) FROM outbox WHERE published = 1"
            ).fetchone()
        return int(n), first, created

    def is_empty(self) -> bool:
        """Nothing left to publish (rows waiting for the ledger's ack do not count)."""
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM outbox WHERE published = 0 LIMIT 1").fetchone()
                is None
            )

    def last_published_id(self) -> int:
        """Where sending resumes after a restart: past every row the broker already has
        (those are sent again only when the ledger is missing them)."""
        with self._lock:
            row = self._db.execute("SELECT MIN(id) FROM outbox WHERE published = 0").fetchone()
            if row[0] is not None:
                return int(row[0]) - 1
            row = self._db.execute("SELECT MAX(id) FROM outbox").fetchone()
        return int(row[0] or 0)

    def oldest_created_us(self) -> int | None:
        """Of the rows not published yet."""
        with self._lock:
            row = self._db.execute(
                "SELECT created_us FROM outbox WHERE published = 0 ORDER BY id LIMIT 1"
            ).fetchone()
        return None if row is None else int(row[0])

    def dead_letters(self) -> list[tuple[str, str, str]]:
        with self._lock:
            cur = self._db.execute("SELECT event_id, topic, reason FROM dead_letter ORDER BY id")
            return [(str(a), str(b), str(c)) for a, b, c in cur.fetchall()]

    def journal_after(self, position: int, limit: int = 10_000) -> list[tuple[int, bytes]]:
        with self._lock:
            cur = self._db.execute(
                "SELECT id, entry FROM journal WHERE id > ? ORDER BY id LIMIT ?", (position, limit)
            )
            return [(int(i), bytes(e)) for i, e in cur.fetchall()]

    def journal_end(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0])

    def checkpoint(self, state: dict[str, bytes], upto: int) -> None:
        """Save state that includes every journal entry up to `upto`, and forget those."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for key, value in state.items():
                self._db.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
                                 (key, value))  # fmt: skip
            self._db.execute("DELETE FROM journal WHERE id <= ?", (upto,))
            self._db.execute("COMMIT")

    def get_state(self, key: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put_state(self, key: str, value: bytes) -> None:
        self.append([], {key: value})

    # --- limits ----------------------------------------------------------------------

    def enforce_limits(self, now_us: int) -> int:
        """Apply the drop policy; returns how many rows were dropped (each counted, logged)."""
        dropped = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            cur = self._db.execute(
                "DELETE FROM outbox WHERE telemetry = 1 AND created_us < ?",
                (now_us - self.max_telemetry_age_us,),
            )
            aged = cur.rowcount
            over = (
                int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]) - self.max_rows
            )
            capped = 0
            if over > 0:
                cur = self._db.execute(
                    "DELETE FROM outbox WHERE id IN"
                    " (SELECT id FROM outbox WHERE telemetry = 1 ORDER BY id LIMIT ?)",
                    (over,),
                )
                capped = cur.rowcount
            self._db.execute("COMMIT")
        dropped = aged + capped
        if dropped:
            self.dropped_total["telemetry"] += dropped
            log.warning(
                "outbox dropped telemetry", aged_out=aged, over_limit=capped, max_rows=self.max_rows
            )
        return dropped

    def _make_room(self, needed: int) -> int:
        """Disk full: drop the oldest telemetry, then (only then) the oldest movements."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            cur = self._db.execute(
                "DELETE FROM outbox WHERE id IN"
                " (SELECT id FROM outbox WHERE telemetry = 1 ORDER BY id LIMIT ?)",
                (max(needed, 1000),),
            )
            telemetry = cur.rowcount
            movements = 0
            if telemetry < needed:
                cur = self._db.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)",
                    (needed - telemetry,),
                )
                movements = cur.rowcount
            self._db.execute("COMMIT")
        self.dropped_total["telemetry"] += telemetry
        self.dropped_total["movement"] += movements
        log.critical("outbox full: events dropped", telemetry=telemetry, movements=movements)
        return int(telemetry + movements)
