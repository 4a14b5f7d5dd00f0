"""`hwms scan parse` as a person or a script calls it: arguments or stdin, JSON lines out."""

from __future__ import annotations

import json
import subprocess
import sys

from rules import hibc


def scan_parse(*args: str, stdin: bytes | None = None) -> tuple[int, list[dict[str, object]], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "hwms_cli", "scan", "parse", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    lines = proc.stdout.decode().splitlines()
    return proc.returncode, [json.loads(line) for line in lines], proc.stderr.decode()


def test_arguments_one_json_object_each() -> None:
    rc, out, err = scan_parse("]d2010401234500001617280331102611A\x1d21SN000123", "4006381333931")
    assert rc == 0 and err == ""
    assert out == [
        {"gtin": "04012345000016", "lot": "2611A", "expiry": "2028-03-31", "serial": "SN000123"},
        {"gtin": "04006381333931"},
    ]


def test_stdin_lines_with_gs_characters_refusals_and_exit_status_2() -> None:
    secondary = "+$$3280501LOT7G"
    lines = [
        b"010401234500001617280331102611A\x1d21SN000123\r",  # a wedge's CR LF
        b"+A123BJC5D6E71G",
        (secondary + hibc.check_character(secondary)).encode(),  # joined to the primary
        b"0104012345000016171328",  # month 13
        b"\xff\xfe garbage",
        b"(00)340123450000000017",
    ]
    rc, out, _ = scan_parse(stdin=b"\n".join(lines) + b"\n")
    assert rc == 2
    assert out[0]["serial"] == "SN000123"
    assert out[1] == {"hibc_lic": "A123", "hibc_pcn": "BJC5D6E7", "hibc_uom": 1}
    assert out[2] == {
        "lot": "LOT7",
        "expiry": "2028-05-01",
        "hibc_lic": "A123",
        "hibc_pcn": "BJC5D6E7",
        "hibc_uom": 1,
    }
    assert "(17)" in str(out[3]["error"])
    assert "character set" in str(out[4]["error"])
    assert out[5] == {"sscc": "340123450000000017"}
    assert len(out) == len(lines)
