"""The `hwms` command line: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import hwms_demo
from rules.epc import EpcError, decode, raw_uri


def _epc_decode(args: argparse.Namespace) -> int:
    status = 0
    for hex_str in args.hex:
        try:
            e = decode(hex_str)
            out = {
                "hex": e.hex,
                "scheme": e.scheme,
                "uri": e.uri,
                "tag_uri": e.tag_uri,
                "filter": e.filter,
                "company_prefix": e.company_prefix,
                "gtin": e.gtin,
                "serial": e.serial,
            }
        except EpcError as exc:
            status = 1
            out = {
                "hex": hex_str,
                "error": str(exc),
                "raw_uri": raw_uri(hex_str) if hex_str.strip() else None,
            }
        print(json.dumps(out))
    return status


def _scan_parse(args: argparse.Namespace) -> int:
    """One JSON object per input (arguments, or stdin lines); 2 when any was refused. An HIBC
    secondary right after its primary is joined to it."""
    from rules.scan import ScanError, ScanJoiner

    inputs = args.input or (
        raw.rstrip(b"\r\n").decode("utf-8", errors="replace") for raw in sys.stdin.buffer
    )
    joiner, status = ScanJoiner(), 0
    for text in inputs:
        try:
            out = joiner.feed(text).to_json()
        except ScanError as exc:
            status, out = 2, {"error": str(exc)}
        print(json.dumps(out, ensure_ascii=False), flush=True)
    return status


def _edge_run(args: argparse.Namespace) -> int:
    from edge.config import ConfigError
    from edge.daemon import run

    try:
        return run(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2


def _edge_check(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load

    try:
        cfg = load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.config}: ok (site {cfg.site}, gateway {cfg.gateway})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hwms", description="Hospital RFID and IoT edge gateway")
    parser.add_argument(
        "--log-level",
        help="DEBUG, INFO, WARNING, ERROR (default: INFO for services and emulators, WARNING"
        " for commands, whose output is what was asked for)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    epc = sub.add_parser("epc", help="EPC tools").add_subparsers(dest="epc_command", required=True)
    dec = epc.add_parser(
        "decode", help="decode EPC hex to GS1 identities (one JSON object per EPC)"
    )
    dec.add_argument("hex", nargs="+")
    dec.set_defaults(func=_epc_decode)

    scan = sub.add_parser("scan", help="barcode tools").add_subparsers(
        dest="scan_command", required=True
    )
    parse = scan.add_parser(
        "parse",
        help="parse barcodes (GS1, Digital Link, GTIN, HIBC) to one JSON object each; with no"
        " argument one per line from stdin; exit 2 if any was refused",
    )
    parse.add_argument("input", nargs="*")
    parse.set_defaults(func=_scan_parse)

    hwms_demo.add_command(sub)

    from central.cli import add_commands as add_central
    from readers.cli import add_commands

    add_commands(sub)
    add_central(sub)

    edge = sub.add_parser("edge", help="the edge daemon").add_subparsers(
        dest="edge_command", required=True
    )
    run = edge.add_parser("run", help="run the edge daemon")
    run.add_argument("--config", required=True, type=Path)
    run.set_defaults(func=_edge_run, log_level_default="INFO")
    check = edge.add_parser(
        "check-config", help="validate a configuration file and exit (2 if invalid)"
    )
    check.add_argument("config", type=Path)
    check.set_defaults(func=_edge_check)
    return parser


def main(argv: list[str] | None = None) -> None:
    from hwms_common.logs import configure

    args = build_parser().parse_args(argv)
    configure(args.log_level or getattr(args, "log_level_default", "WARNING"))
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
