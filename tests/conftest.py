"""Shared test helpers: the test clock, where the shared reference files are, a broker."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from central.clock import FixedClock

# Tests never read the wall clock: every date is this fixed instant or relative to it, so
# the suite gives the same results on any day (CI also runs it with the clock moved years).
TEST_NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
TEST_TODAY = TEST_NOW.date()


def fixed_clock() -> FixedClock:
    """A fresh clock at TEST_NOW (tests may advance it)."""
    return FixedClock(TEST_NOW)


def days(n: int) -> date:
    """The test day plus n days (negative: before it)."""
    return TEST_TODAY + timedelta(days=n)


def wall_days(n: int) -> date:
    """Today on the wall clock plus n days: for what runs on it (the CLI, a ledger process),
    so the test passes whatever the date."""
    return date.today() + timedelta(days=n)


SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def require_tool(name: str) -> str:
    """A system tool the test needs: skip without it, but fail in CI, where
    scripts/system-deps.sh must have installed it."""
    import shutil

    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing (scripts/system-deps.sh installs it)")
        pytest.skip(f"{name} is missing")
    return path


def shared_path(*parts: str) -> Path:
    """A file under ../shared; skip outside the workplace layout, but fail in CI."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: CI must run with ../shared beside the repository")
        pytest.skip(f"{path} not found (../shared is not beside this checkout)")
    return path


ROOT = Path(__file__).resolve().parents[1]


def ledger_process(
    client_id: str, *, db_url: str = "", mqtt_port: int = 0, config: Path | None = None
) -> subprocess.Popen[bytes]:
    """`hwms central run` as its own process: from a configuration file or from flags."""
    import sys

    args = ["--config", str(config)] if config else ["--db", db_url, "--mqtt-port", str(mqtt_port)]
    return subprocess.Popen(
        [sys.executable, "-m", "hwms_cli", "central", "run", *args, "--client-id", client_id],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


class Mosquitto:
    """A private mosquitto broker on a free loopback port that tests may stop and restart."""

    def __init__(self, workdir: Path, *, persistence: bool = False) -> None:
        import shutil
        import socket

        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            if os.environ.get("CI") == "true":
                pytest.fail(
                    "mosquitto is not installed (make installs it from the system packages)"
                )
            pytest.skip("mosquitto is not installed")
        self.exe = exe
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
            s2 = socket.socket()
            s2.bind(("127.0.0.1", 0))
            self.tls_port = int(s2.getsockname()[1])
            s2.close()
        self.host = "127.0.0.1"
        self.persistence = persistence  # as in production: queues saved every 60 s and at exit
        self.conf = workdir / "mosquitto.conf"
        self.proc: subprocess.Popen[bytes] | None = None
        self.reconfigure(restart=False)

    def reconfigure(
        self,
        *,
        acl_file: Path | None = None,
        tls: dict[str, Path] | None = None,
        password_file: Path | None = None,
        restart: bool = True,
    ) -> None:
        """Rewrite the configuration and restart (mosquitto reloads a changed ACL *file* on
        SIGHUP, see `reload`, but not new directives)."""
        lines = ["per_listener_settings true", "max_queued_messages 100000"]
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.conf.parent}/",
                      "autosave_interval 60"]  # fmt: skip
        else:
            lines.append("persistence false")
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto' and cannot read test files
        lines += [f"listener {self.port} 127.0.0.1", "allow_anonymous true"]
        if acl_file is not None:
            lines.append(f"acl_file {acl_file}")
        if tls is not None:
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {tls['ca']}",
                f"certfile {tls['cert']}",
                f"keyfile {tls['key']}",
                "allow_anonymous false",
            ]
            if password_file is not None:
                lines.append(f"password_file {password_file}")
        self.conf.write_text("\n".join(lines) + "\n")
        if restart and self.proc is not None:
            self.stop()
            self.start()

    def reload(self) -> None:
        import signal
        import time

        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)

    def start(self) -> None:
        import socket
        import time

        with (self.conf.parent / "mosquitto.log").open("ab") as log:
            self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex((self.host, self.port)) == 0:
                    time.sleep(0.1)
                    return
            time.sleep(0.05)
        log_text = (self.conf.parent / "mosquitto.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"mosquitto did not start:\n{log_text}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def crash(self) -> None:
        """SIGKILL: what the broker had not saved yet is gone."""
        import signal

        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


def make_tls(tmp: Path) -> dict[str, Path]:
    """A test CA and a server certificate for 127.0.0.1 (openssl), valid two days."""
    import subprocess

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=hwms-test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    ssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (tmp / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "san.ext", "-out", "server.crt")  # fmt: skip
    return {"ca": tmp / "ca.crt", "cert": tmp / "server.crt", "key": tmp / "server.key"}


def mosquitto_passwords(tmp: Path, **users: str) -> Path:
    """A mosquitto password file for `users` (name=password)."""
    import subprocess

    path = tmp / "passwd"
    for n, (user, password) in enumerate(users.items()):
        args = ["-b", "-c"] if n == 0 else ["-b"]
        subprocess.run(["mosquitto_passwd", *args, str(path), user, password], check=True,
                       capture_output=True)  # fmt: skip
    return path


# Every ledger test runs on SQLite and on PostgreSQL (127.0.0.1:5432, database `test`).
PG_ADMIN = os.environ.get("HWMS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_url() -> Iterator[str]:
    """A fresh schema per test in the `test` database, dropped afterwards."""
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        with admin.connect() as c:
            c.execute(text("select 1"))
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.execute(text(f'create schema "{schema}"'))
    try:
        yield f"{PG_ADMIN}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        yield from _pg_url()


# Every ledger database a test wrote must still verify when the test ends (its audit chain
# covers every chained row: a write path that bypasses the chain fails here). Tests that
# change rows behind hwms's back on purpose are marked `tampers`.
_DATABASES: list[str] = []


@pytest.fixture(autouse=True)
def _record_databases(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from central import db

    make = db.engine

    def recorded(url: str) -> Any:
        if url not in _DATABASES:
            _DATABASES.append(url)
        return make(url)

    monkeypatch.setattr(db, "engine", recorded)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Before the test's fixtures (its databases) go: the audit chain of each verifies."""
    urls = list(_DATABASES)
    _DATABASES.clear()
    if item.get_closest_marker("tampers") is None:
        for url in urls:
            _verify_chain(url)
    yield


def _verify_chain(url: str) -> None:
    from sqlalchemy import inspect

    from central.audit_verify import verify

    eng = create_engine(url)
    try:
        with eng.connect() as c:
            if not inspect(c).has_table("audit_head"):
                return
            result = verify(c)
    except SQLAlchemyError:  # the test removed it or never built it: nothing to verify
        return
    finally:
        eng.dispose()
    assert result.intact, f"the audit chain of {url} does not verify:\n{result.summary()}"
