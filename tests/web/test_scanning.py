"""The scan screens as people use them, on a 390 px phone: a keyboard-wedge scanner types
GS1 data (GS separators included) and Enter; each scan is answered at once (accepted,
already scanned, refused); the list books as a receipt, a dispensing or a count. The tag
of an untagged item is written by the RFID label printer (a loopback one), and the phone's
camera reads a GS1 DataMatrix with the vendored decoder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from readers.label_printer import LabelPrinterEmulator
from rules import epc
from rules.labels import gs1_data
from rules.scan import ItemIdentity, from_epc
from tests.central.test_operations import GTIN
from tests.conftest import require_tool, wall_days
from tests.support import api_process, until
from tests.web.conftest import CHROMIUM_ARGS, axe_violations, log_in

PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "locale": "en-GB",
    "has_touch": True,
}


def datamatrix(gtin: str = GTIN, **fields: Any) -> str:
    """What a wedge scanner types for a GS1 DataMatrix: symbology identifier, GS between
    variable-length fields."""
    return "]d2" + gs1_data(ItemIdentity(source="gs1", gtin=gtin, **fields))


@pytest.fixture
def printer() -> Iterator[LabelPrinterEmulator]:
    p = LabelPrinterEmulator().start()
    yield p
    p.stop()


@pytest.fixture
def printing_server(
    ledger_url: str, tmp_path: Path, printer: LabelPrinterEmulator
) -> Iterator[str]:
    yield from api_process(
        ledger_url, tmp_path / "api.log", "--label-printer", f"127.0.0.1:{printer.port}"
    )


def scan(page: Any, code: str) -> str:
    """Type one scan as a wedge scanner does and wait for the answer; returns it."""
    status = page.get_by_test_id("scan-status")
    before = status.inner_text()
    field = page.locator("#scan")
    field.focus()
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "b => document.getElementById('scan-status').innerText !== b", arg=before
    )
    return str(status.inner_text())


def outcome(page: Any) -> str:
    return str(page.locator("[data-scanbox]").get_attribute("data-outcome"))


def test_receive_by_scan_with_a_tag_written_for_an_untagged_item(
    printing_server: str, browser: Any, printer: LabelPrinterEmulator
) -> None:
    server, exp = printing_server, wall_days(400)
    context = browser.new_context(**PHONE, bypass_csp=True)  # for axe
    page = context.new_page()
    log_in(page, server, "sam")
    page.get_by_role("link", name="Scan").click()
    page.get_by_role("link", name="Receive by scan").click()
    page.locator("#location").fill("s1/store")
    page.locator("#number").fill("DN-SCAN-1")

    first = datamatrix(lot="SC1", expiry=exp, serial="9001")
    assert "\x1d" in first
    assert scan(page, first).startswith("Accepted")
    assert outcome(page) == "accepted"
    assert scan(page, first).startswith("Already scanned")
    assert outcome(page) == "duplicate"
    assert scan(page, datamatrix(lot="SC1", expiry=exp, serial="9002")).startswith("Accepted")
    assert scan(page, "]d201040123450000171728033110X").startswith("Refused")  # check digit
    assert outcome(page) == "refused"
    assert "expired" in scan(page, datamatrix(lot="OLD", expiry=date(2001, 1, 31)))
    assert scan(page, GTIN[1:]).startswith("Accepted")  # a bare EAN-13: lot and expiry typed
    page.locator(f"#lot-{GTIN}").fill("SC2")
    page.locator(f"#expiry-{GTIN}").fill(exp.isoformat())
    lines = page.get_by_test_id("scan-lines").inner_text()
    assert "SC1" in lines and "9001" in lines and "9002" in lines
    assert axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # the tag of item 9001 is written by the RFID label printer
    page.get_by_role("button", name="Write tag").first.click()
    expected = epc.decode(epc.encode_sgtin96(GTIN, 9001, company_prefix_length=7)).uri
    page.wait_for_function(
        "u => document.getElementById('scan-status').innerText.includes(u)", arg=expected
    )
    label = printer.printed()[-1]
    assert label.epc_hex is not None and epc.decode(label.epc_hex).uri == expected
    assert from_epc(epc.decode(label.epc_hex)).key == ("gtin", GTIN, "9001", "")
    assert (
        label.datamatrix is not None and "_1" in label.datamatrix and "219001" in label.datamatrix
    )

    # an internal GS1 DataMatrix label (no tag) for the untagged line, once its lot is known
    assert scan(page, datamatrix(lot="SC3", expiry=exp)).startswith("Accepted")
    page.get_by_role("row").filter(has_text="SC3").get_by_role("button", name="Print label").click()
    until(lambda: len(printer.printed()) == 2, timeout=10, what="the internal label")
    internal = printer.printed()[-1]
    assert (
        internal.epc_hex is None
        and internal.datamatrix is not None
        and "10SC3" in internal.datamatrix
    )

    page.get_by_test_id("book").click()
    assert "Booked 4 item(s) as receipt DN-SCAN-1." in page.get_by_test_id("done").inner_text()
    page.goto(f"{server}/ui/stock?q=SC1")
    assert "s1/store" in page.locator("tbody").inner_text()
    metrics = context.request.get(f"{server}/metrics").text()
    assert 'hwms_web_scans_total{outcome="refused",purpose="receive"} 2.0' in metrics
    assert 'hwms_web_scans_total{outcome="duplicate",purpose="receive"} 1.0' in metrics
    assert 'hwms_web_labels_total{outcome="printed"} 2.0' in metrics
    context.close()


def test_dispense_at_the_ward_and_the_scope_of_a_nurse(server: str, browser: Any) -> None:
    """Anna (nurse, ward 5) dispenses an RFID-tagged item by scanning its DataMatrix: the
    scan names the tag the ward's reader knows."""
    context = browser.new_context(**PHONE)
    page = context.new_page()
    log_in(page, server, "anna")
    page.goto(f"{server}/ui/scan/dispense")
    page.locator("#location").fill("s1/ward-5")
    page.locator("#case_id").fill("P-42")
    assert scan(page, datamatrix(serial="50")).startswith("Accepted")
    assert "not in stock here" in scan(page, datamatrix(serial="1"))  # in the store
    page.get_by_test_id("book").click()
    assert "Booked 1 item(s)." in page.get_by_test_id("done").inner_text()
    page.goto(f"{server}/ui/stock?q=W5")
    assert page.locator("tbody td.num").first.inner_text() == "1"
    # the store is not anna's: refused by the server, not only hidden
    page.goto(f"{server}/ui/scan/dispense")
    page.locator("#location").fill("s1/store")
    page.locator("#case_id").fill("P-42")
    assert "Choose a location of yours first." in scan(page, datamatrix(serial="2"))
    page.goto(f"{server}/ui/scan/receive")
    assert "Your role may not do this." in page.content()
    context.close()


def test_count_by_scan_merged_with_an_rfid_read(server: str, browser: Any) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    log_in(page, server, "sam")
    page.goto(f"{server}/ui/scan/count")
    assert page.locator("h1").inner_text() == "扫码盘点"
    page.locator("#location").fill("s1/store")
    for serial in ("1", "2"):
        assert scan(page, f"(01){GTIN}(21){serial}").startswith("已接受")  # typed by a person
    tag3 = epc.decode(epc.encode_sgtin96(GTIN, 3, company_prefix_length=7)).uri
    page.locator("#epcs").fill(tag3)
    page.get_by_test_id("book").click()
    page.get_by_test_id("done").get_by_role("link").click()
    assert page.get_by_test_id("accuracy").inner_text() == "100.0%"
    context.close()


def _y4m(image: Any, width: int = 640, height: int = 480) -> bytes:
    """One frame of YUV 4:2:0 video, the code in the middle on white: what Chromium's fake
    camera plays in a loop."""
    rows, cols = image.shape
    raw = bytes(memoryview(image))
    luma = bytearray(b"\xff" * (width * height))
    top, left = (height - rows) // 2, (width - cols) // 2
    for y in range(rows):
        luma[(top + y) * width + left : (top + y) * width + left + cols] = raw[
            y * cols : (y + 1) * cols
        ]
    chroma = b"\x80" * (width * height // 4)
    return (
        f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
        + b"FRAME\n"
        + bytes(luma)
        + chroma
        + chroma
    )


def test_the_phone_camera_reads_a_gs1_datamatrix(server: str, tmp_path: Path) -> None:
    """Chromium's fake camera shows a GS1 DataMatrix; the vendored ZXing decoder (headless
    Chromium on Linux has no BarcodeDetector) reads it and the scan is accepted."""
    import zxingcpp

    code = zxingcpp.create_barcode(f"(01){GTIN}(17){wall_days(300):%y%m%d}(10)CAM1(21)77",
                                   zxingcpp.BarcodeFormat.DataMatrix, gs1=True)  # fmt: skip
    video = tmp_path / "camera.y4m"
    video.write_bytes(_y4m(code.to_image(scale=8)))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=require_tool("chromium"), args=[
            *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"])  # fmt: skip
        context = b.new_context(**PHONE, permissions=["camera"])
        page = context.new_page()
        log_in(page, server, "sam")
        page.goto(f"{server}/ui/scan/receive")
        page.locator("#location").fill("s1/store")
        page.get_by_role("button", name="Use the camera").click()
        page.wait_for_function("() => document.getElementById('scan-status').innerText.startsWith('Accepted')",
                               timeout=30_000)  # fmt: skip
        assert "CAM1" in page.get_by_test_id("scan-lines").inner_text()
        assert "77" in page.get_by_test_id("scan-lines").inner_text()
        if not page.evaluate("() => 'BarcodeDetector' in window"):  # the vendored one read it
            assert page.evaluate("() => !!window.BarcodeDetectionAPI")
        b.close()


def test_the_check_refuses_a_script_without_a_session_or_form(server: str) -> None:
    import json
    import urllib.error
    import urllib.request

    data = b"code=4006381333931&location=s1%2Fstore&csrf=x"
    for path, status in (("/ui/scan/receive/check", 401), ("/ui/scan/nothing/check", 404)):
        try:
            urllib.request.urlopen(urllib.request.Request(server + path, data=data), timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == status
            assert json.loads(exc.read())["outcome"] == "refused"
        else:
            pytest.fail(f"{path} answered without a session")
