"""The raw-9100 label printer client against the loopback emulator, and the job splitter
over every split of the stream."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers.label_printer import LabelPrinterEmulator, PrinterError, ZplJobs, send_zpl
from tests.support import free_port, until

JOB = "^XA\n^RFW,H,,,A^FD3034257BF7194E4000001A85^FS\n^FO30,30^BXN,6,200,,,,_^FD_10104012345000016^FS\n^XZ\n"


def test_a_job_reaches_the_printer_and_its_tag_is_known() -> None:
    printer = LabelPrinterEmulator().start()
    try:
        send_zpl("127.0.0.1", printer.port, JOB)
        send_zpl("127.0.0.1", printer.port, JOB.replace("1A85", "1A86") * 2)
        until(lambda: len(printer.printed()) == 3, timeout=10, what="three labels printed")
        labels = printer.printed()
        assert [p.epc_hex for p in labels] == ["3034257BF7194E4000001A85"] + [
            "3034257BF7194E4000001A86"
        ] * 2
        assert labels[0].datamatrix == "_10104012345000016"
    finally:
        printer.stop()


def test_an_unreachable_printer_is_a_clear_error() -> None:
    with pytest.raises(PrinterError, match=r"label printer 127\.0\.0\.1:\d+"):
        send_zpl("127.0.0.1", free_port(), JOB, timeout=2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3 * len(JOB) + 10), max_size=6), st.binary(max_size=20))
def test_jobs_survive_any_split_and_noise(cuts: list[int], noise: bytes) -> None:
    stream = noise.replace(b"^", b"") + (JOB * 3).encode()
    jobs, splitter, last = [], ZplJobs(), 0
    for cut in sorted({*cuts, len(stream)}):
        jobs += splitter.feed(stream[last:cut])
        last = max(last, cut)
    assert jobs == [JOB.rstrip("\n")] * 3
