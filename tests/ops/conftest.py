"""The ops kit's tests use the web tests' ledger (a stocked ledger with users)."""

from tests.web.conftest import ledger_url

__all__ = ["ledger_url"]
