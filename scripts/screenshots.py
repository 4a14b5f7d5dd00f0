"""The README's screenshots, taken the way the browser tests use the app: a small ledger
(SQLite), `hwms central api` as a process, Debian's chromium driven by Playwright.

    .venv/bin/python scripts/screenshots.py   # writes docs/screenshots/*.png
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from central import accounts, db  # noqa: E402
from central.imports import import_master_data  # noqa: E402
from central.ledger import Ledger, ReceiptLine  # noqa: E402
from rules.events import Event, TemperatureMinute, stamp  # noqa: E402
from tests.support import api_process  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PASSWORD = "screenshot-password"


def ledger(url: str) -> None:
    db.upgrade(url)
    lg = Ledger(db.engine(url))
    today = date.today()
    with lg.session.begin() as s:
        products = ("gtin,name,unit_price\n04012345000016,生理盐水 500 ml,3.20\n"
                    "04012345000023,头孢唑林 1 g,18.50\n")  # fmt: skip
        import_master_data(s, "products", products)
        import_master_data(s, "locations", "code,name,department\nh1/ward-5,Ward 5,ward-5\n")
        accounts.add_user(s, "wang", role="storekeeper", password=PASSWORD)
    store = "h1/central_store"
    lines = [ReceiptLine(epc=f"urn:epc:id:sgtin:4012345.000001.{i}", gtin="04012345000016",
                         lot="L2611A", expiry=today + timedelta(days=300), location=store)
             for i in range(1, 25)]  # fmt: skip
    lines += [ReceiptLine(epc=f"urn:epc:id:sgtin:4012345.000002.{i}", gtin="04012345000023",
                          lot="C2611B", expiry=today + timedelta(days=20), location="h1/ward-5")
              for i in range(1, 9)]  # fmt: skip
    lg.receive(lines, actor="wang", today=today)
    # two days of fridge-1's minutes, with a warm spell three hours ago
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = int((now - timedelta(days=2)).timestamp()) * 1_000_000
    minutes: list[tuple[Event, datetime]] = []
    for i in range(2 * 1440):
        mean = 5.0 + 0.6 * math.sin(i / 90) + (4.2 if 2700 <= i < 2740 else 0.0)
        m = TemperatureMinute(occurred_at_us=start + i * 60_000_000, unit="fridge-1",
                              sensor="probe-1", samples=6, faults=0, min_c=round(mean - 0.3, 2),
                              mean_c=round(mean, 2), max_c=round(mean + 0.3, 2), low_c=2.0,
                              high_c=8.0)  # fmt: skip
        minutes.append((stamp(m, site="h1", gateway="gw1", seq=i + 1), now))
    for k in range(0, len(minutes), 500):
        lg.apply_batch(minutes[k : k + 500])


def main() -> int:
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    if exe is None:
        print("chromium is missing (scripts/system-deps.sh installs it)", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hwms-shots-"))
    url = f"sqlite:///{work / 'ledger.db'}"
    ledger(url)
    for base in api_process(url, work / "api.log"):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
            for name, locale, size, path in [
                ("dashboard-phone-zh", "zh-CN", (390, 844), "/"),
                ("stock-desk-en", "en-GB", (1280, 720), "/ui/stock"),
                ("alerts-desk-zh", "zh-CN", (1280, 720), "/ui/alerts"),
                ("coldchain-desk-zh", "zh-CN", (1280, 720), "/ui/coldchain/1"),
            ]:
                page = browser.new_page(
                    locale=locale, viewport={"width": size[0], "height": size[1]}
                )
                page.goto(f"{base}/login")
                page.locator("#username").fill("wang")
                page.locator("#password").fill(PASSWORD)
                page.locator("button[type=submit].primary").click()
                page.wait_for_url(f"{base}/")
                page.goto(f"{base}{path}")
                page.wait_for_timeout(500)  # charts drawn
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                page.close()
            browser.close()
    print(f"screenshots in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
