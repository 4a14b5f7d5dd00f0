"""Users who log in and their tokens: argon2 hashes, roles and what they permit, disabled
users, tokens issued per user acting with the user's role; the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from central import accounts
from central.api import create_app
from central.errors import Conflict, Invalid
from central.models import AppUser
from central.vocab import Permission, Role
from tests.central.test_operations import stocked
from tests.conftest import ROOT, TEST_NOW

GOOD = "correct horse battery"


def test_passwords_roles_and_disabled_users(db_url: str) -> None:
    lg = stocked(db_url, 2)
    with lg.session.begin() as s:
        accounts.add_user(s, "anna", role="nurse", password=GOOD, sites=["s1"],
                          departments=["ward-5", " "])  # fmt: skip
        with pytest.raises(Conflict):
            accounts.add_user(s, "anna", role="nurse", password=GOOD)
        with pytest.raises(Invalid, match="unknown role"):
            accounts.add_user(s, "bob", role="surgeon", password=GOOD)
        with pytest.raises(Invalid, match="at least"):
            accounts.add_user(s, "bob", role="nurse", password="short")
    with lg.session.begin() as s:
        stored = s.get(AppUser, "anna")
        assert stored is not None and stored.password_hash is not None
        assert stored.password_hash.startswith("$argon2id$") and GOOD not in stored.password_hash
        anna = accounts.login(s, "anna", GOOD)
        assert anna == accounts.Principal("anna", Role.NURSE, frozenset({"s1"}),
                                          frozenset({"ward-5"}))  # fmt: skip
        assert accounts.login(s, "anna", "wrong password") is None
        assert accounts.login(s, "nobody", GOOD) is None
        accounts.change_password(s, "anna", GOOD, "another long one")
        assert accounts.login(s, "anna", GOOD) is None
        accounts.disable_user(s, "anna")
        assert accounts.login(s, "anna", "another long one") is None
    assert anna.may(Permission.ACKNOWLEDGE) and not anna.may(Permission.LOCK)
    assert all(accounts.Principal("x", Role.ADMIN).may(p) for p in Permission)
    assert accounts.PERMISSIONS[Role.VIEWER] == {Permission.READ}


def test_a_users_token_acts_with_the_users_role(db_url: str) -> None:
    lg = stocked(db_url, 2)
    with lg.session.begin() as s:
        accounts.add_user(s, "nina", role="nurse", password=GOOD)
        accounts.add_user(s, "quin", role="quality", password=GOOD)
        nurse = accounts.add_token(s, "nina", TEST_NOW)
        quality = accounts.add_token(s, "quin", TEST_NOW)
    api = TestClient(create_app(lg, {}))

    def h(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    assert api.get("/stock", headers=h(nurse)).status_code == 200
    lock = "/batches/04012345000016/L1/lock"
    sign = {"password": GOOD, "reason": "recall notice R-7"}
    assert api.post(lock, json=sign, headers=h(nurse)).status_code == 403  # a nurse cannot
    assert api.post(lock, json=sign, headers=h(quality)).status_code == 200
    assert api.get("/stock", headers=h("not-a-token")).status_code == 401
    with lg.session.begin() as s:
        accounts.disable_user(s, "nina")
    assert api.get("/stock", headers=h(nurse)).status_code == 401  # disabled: token dead too


def test_cli_user_and_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    stocked(url, 1)

    def hwms(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hwms_cli", "central", *args, "--db", url],
                              input=stdin, capture_output=True, text=True, check=False,
                              cwd=ROOT)  # fmt: skip

    added = hwms("user", "add", "sam", "--role", "storekeeper", "--site", "s1",
                 "--password-stdin", stdin=GOOD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    again = hwms("user", "add", "sam", "--role", "storekeeper", "--password-stdin", stdin=GOOD)
    assert again.returncode == 4 and "exists already" in again.stderr
    listed = hwms("user", "list").stdout
    assert "sam" in listed and "storekeeper" in listed and "sites=s1" in listed
    token = hwms("token", "add", "sam").stdout.strip()
    assert len(token) >= 40 and token not in Path(tmp_path / "l.db").read_bytes().decode("latin-1")
    assert hwms("token", "add", "nobody").returncode == 3
    assert hwms("user", "disable", "sam").returncode == 0
    assert "disabled" in hwms("user", "list").stdout
