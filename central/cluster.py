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
import zlib

import structlog
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger(__name__)


class Leadership:
    def __init__(self, engine: Engine, name: str = "hwms-ledger-scheduler") -> None:
        self.engine = engine
        self.key = zlib.crc32(name.encode())  # a stable advisory lock key for this cluster
        self._conn: Connection | None = None

    def held(self) -> bool:
        """Whether this process leads now (tries to become leader when it does not)."""
        if self.engine.dialect.name != "postgresql":
            return True
        try:
            if self._conn is not None:
                self._conn.execute(text("select 1"))  # the lock lives as long as this session
                return True
            conn = self.engine.connect()
            got = bool(conn.execute(text("select pg_try_advisory_lock(:k)"), {"k": self.key})
                       .scalar())  # fmt: skip
            conn.commit()
            if not got:
                conn.close()
                return False
            self._conn = conn
            log.info("this ledger leads the scheduled work", lock=self.key)
            return True
        except SQLAlchemyError as exc:
            log.warning("leadership lost", error=(str(exc).splitlines() or [""])[0])
            self.release()
            return False

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None
