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
