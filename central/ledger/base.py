"""The ledger's foundation: the engine and session, the clock, the id caches of locations
and batches, and the one shape of a writing transaction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from central.audit_chain import ChainWriter, note
from central.clock import SYSTEM_CLOCK, Clock, as_utc
from central.config import PurchasingConfig, RequisitionConfig
from central.models import Batch, Location, Tag
from rules.events import NAME
from rules.events import Batch as EventBatch
from rules.progress import SeqProgress

IN_CHUNK = 10_000  # values per IN (...): PostgreSQL allows 65 535 parameters per statement
LOCATION_CODE = re.compile(rf"{NAME.pattern}(/{NAME.pattern})+")


def location_problem(code: str) -> str:
    """Why `code` is not a location code (`<site>/<zone>[/...]`), or ''."""
    if len(code) > 200 or not LOCATION_CODE.fullmatch(code):
        return f"location {code[:80]!r} is not a location code like 'site/zone'"
    return ""


def tag_column(s: Session, column: Any, epcs: Iterable[str]) -> dict[str, Any]:
    """EPC -> `column` of the tags among `epcs`, queried in chunks of IN_CHUNK."""
    values = list(epcs)
    out: dict[str, Any] = {}
    for i in range(0, len(values), IN_CHUNK):
        chunk = values[i : i + IN_CHUNK]
        rows = s.execute(select(Tag.epc, column).where(Tag.epc.in_(chunk)))
        out.update((epc, value) for epc, value in rows)
    return out


def ts(t_us: int) -> datetime:
    return datetime.fromtimestamp(t_us / 1_000_000, tz=UTC)


def iso(value: datetime | None) -> str | None:
    aware = as_utc(value)
    return None if aware is None else aware.astimezone(UTC).isoformat()


class LedgerBase:
    def __init__(
        self,
        engine: Engine,
        clock: Clock = SYSTEM_CLOCK,
        *,
        requisitions: RequisitionConfig | None = None,
        supply: dict[str, str] | None = None,
        purchasing: PurchasingConfig | None = None,
    ) -> None:
        """`requisitions`: the approval chain and the workflow's alerts; `supply`: a location
        code -> the store that supplies it; `purchasing`: purchase orders' approvals,
        tolerances and proposals (all from the ledger's configuration)."""
        self.engine = engine
        self.clock = clock
        self.requisition_rules = requisitions or RequisitionConfig()
        self.purchasing_rules = purchasing or PurchasingConfig()
        self.supply = dict(supply or {})
        self.session = sessionmaker(engine, expire_on_commit=False)
        ChainWriter(self.session, clock)  # every chained row, hashed in its transaction
        self._pg = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if self._pg else sqlite.insert
        # ids of locations and batches never change once created: remember them
        self._location_ids: dict[str, int] = {}
        self._batch_ids: dict[tuple[str, str], int] = {}
        self._fresh_locations: dict[str, int] = {}
        self._fresh_batches: dict[tuple[str, str], int] = {}
        self._sensor_ids: dict[tuple[str, str], int] = {}
        self._fresh_sensors: dict[tuple[str, str], int] = {}
        # per gateway, the progress changed by the last committed `apply_batch` (to publish)
        self.progress: dict[tuple[str, str], SeqProgress] = {}

    def _remember(self, committed: bool) -> None:
        """Ids seen in a transaction are cached only if it committed (else they may not exist)."""
        if committed:
            self._location_ids.update(self._fresh_locations)
            self._batch_ids.update(self._fresh_batches)
            self._sensor_ids.update(self._fresh_sensors)
        self._fresh_locations.clear()
        self._fresh_batches.clear()
        self._fresh_sensors.clear()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One writing transaction: ids of locations and batches it created are remembered
        only if it committed (after a rollback they do not exist)."""
        try:
            with self.session.begin() as s:
                yield s
        except BaseException:
            self._remember(False)
            raise
        self._remember(True)

    def _location(self, s: Session, site: str, zone: str) -> int:
        code = f"{site}/{zone}"
        known = self._location_ids.get(code)
        if known is not None:
            return known
        made = s.execute(
            self._insert(Location)
            .values(code=code, name=zone, kind="zone")
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(Location.id)
        ).scalar()
        if made is not None:
            note(s, "location", [{"id": made, "code": code}])
        found = int(s.execute(select(Location.id).where(Location.code == code)).scalar_one())
        self._fresh_locations[code] = found  # remembered once the transaction committed
        return found

    def _place(self, s: Session, code: str) -> int:
        """The id of location `code` (`<site>/<zone>`), created when new."""
        site, _, zone = code.rpartition("/")
        return self._location(s, site, zone)

    def _batch(self, s: Session, b: EventBatch, supplier: str = "") -> int:
        gtin, lot = b.gtin or "", b.lot or ""
        known = self._batch_ids.get((gtin, lot))
        if known is not None:
            return known
        expiry = date.fromisoformat(b.expiry) if b.expiry else None
        made = s.execute(
            self._insert(Batch)
            .values(gtin=gtin, lot=lot, expiry=expiry, supplier=supplier, locked=False)
            .on_conflict_do_nothing(index_elements=["gtin", "lot"])
            .returning(Batch.id)
        ).scalar()
        if made is not None:
            note(s, "batch", [{"id": made}])
        found = int(
            s.execute(select(Batch.id).where(Batch.gtin == gtin, Batch.lot == lot)).scalar_one()
        )
        self._fresh_batches[(gtin, lot)] = found
        return found
