"""Long work the API accepts and does in the background: a master-data import of tens of
thousands of rows takes seconds, and the event loop (and `/health`) must not wait for it.

Jobs run one at a time in a worker thread and are kept in memory (the last 200): an import
is one transaction, so a ledger restarted mid-import has imported nothing and the client,
finding the job gone (404), sends the file again.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import structlog

log = structlog.get_logger(__name__)

KEEP = 200

Progress = Callable[[str, int, int], None]


@dataclass(slots=True)
class Job:
    id: int
    kind: str
    state: str = "queued"  # queued, running, done, failed
    phase: str = ""
    rows_total: int = 0
    rows_done: int = 0
    imported: int | None = None
    error: str | None = None


class Jobs:
    def __init__(self) -> None:
        self._jobs: OrderedDict[int, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="api-job")

    def submit(
        self, kind: str, work: Callable[[Progress], int], expected: tuple[type[Exception], ...]
    ) -> dict[str, Any]:
        """Queue `work(progress)`, which returns a count; `expected` errors fail the job
        with their message, anything else with its type only (logged in full)."""
        with self._lock:
            job = Job(id=next(self._ids), kind=kind)
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)
            snapshot = asdict(job)
        self._pool.submit(self._run, job, work, expected)
        return snapshot

    def get(self, job_id: int) -> dict[str, Any] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else asdict(job)

    def _run(
        self, job: Job, work: Callable[[Progress], int], expected: tuple[type[Exception], ...]
    ) -> None:
        def progress(phase: str, done: int, total: int) -> None:
            with self._lock:
                job.phase, job.rows_done, job.rows_total = phase, done, total

        with self._lock:
            job.state = "running"
        try:
            imported = work(progress)
        except expected as exc:
            with self._lock:
                job.state, job.error = "failed", str(exc)
            log.info("job failed", job=job.id, kind=job.kind, error=str(exc)[:500])
            return
        except Exception as exc:  # reported on the job; the worker lives on
            with self._lock:
                job.state, job.error = "failed", f"internal error ({type(exc).__name__})"
            log.error("job crashed", job=job.id, kind=job.kind, exc_info=True)
            return
        with self._lock:
            job.state, job.imported = "done", imported
        log.info("job done", job=job.id, kind=job.kind, imported=imported)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
