"""Scheduled work runs once per cluster, not once per ledger process.

Several ledgers may share one PostgreSQL (the documented way to scale out). Ingest is safe
to share (idempotent by event id, alerts unique by a partial index), but evaluations,
replenishment orders, notifications, delivery checks and the commissioning map must be
done by one of them: the leader, which holds a PostgreSQL session advisory lock on a
connection of its own. When the leader dies, its connection closes, the lock goes with it
and another ledger takes over on its next pass. SQLite serves one ledger: always leader.
"""

from __future__ import annotations

import contextlib

import structlog
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger(__name__)

LOCK = text(
    "select pg_try_advisory_lock(hashtext(current_database() || '.' || current_schema()"
    " || '.' || :name))"
)


class Leadership:
    def __init__(self, engine: Engine, name: str = "hwms-ledger-scheduler") -> None:
        self.engine = engine
        self.name = name
        self._conn: Connection | None = None

    def held(self) -> bool:
        """Whether this process leads now (tries to become leader when it does not)."""
        if self.engine.dialect.name != "postgresql":
            return True
        try:
            if self._conn is not None:
                self._conn.execute(text("select 1"))  # the lock lives as long as this session
                self._conn.commit()  # never left idle in a transaction
                return True
            conn = self.engine.connect()
            # one lock per ledger database and schema (advisory locks are per server)
            got = bool(conn.execute(LOCK, {"name": self.name}).scalar())
            conn.commit()
            if not got:
                conn.close()
                return False
            self._conn = conn
            log.info("this ledger leads the scheduled work", lock=self.name)
            return True
        except SQLAlchemyError as exc:
            log.warning("leadership lost", error=(str(exc).splitlines() or [""])[0])
            self.release()
            return False

    def release(self) -> None:
        """Give the lead up: the connection is discarded, not returned to the pool, where
        the session (and so the lock) would live on."""
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None
