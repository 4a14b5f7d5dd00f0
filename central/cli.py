"""`hwms central ...`: run the ledger, migrate its database, query stock."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from typing import Any

from central.clock import SYSTEM_CLOCK


def _errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The ledger's errors as a message on stderr and an exit code, the same for every
    command (central/errors.py: 1 invalid, 3 not found, 4 conflict); a database that is
    not migrated or not reachable is said so, not shown as a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import OperationalError, ProgrammingError

        from central.errors import LedgerError

        name = f"hwms central {args.central_command}"
        try:
            return command(args)
        except LedgerError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return exc.exit_code
        except (OperationalError, ProgrammingError) as exc:
            first = str(exc.orig).splitlines()[0]
            hint = "is the database reachable and migrated? hwms central db upgrade --db URL"
            print(f"{name}: database error: {first} ({hint})", file=sys.stderr)
            return 5

    return run


def run_config(args: argparse.Namespace) -> Any:
    """The config file (or the defaults) with the command-line flags given on top."""
    from pathlib import Path

    from central.config import load, parse

    cfg = load(Path(args.config)) if args.config else parse({})
    mqtt = {
        k: v
        for k, v in (
            ("host", args.mqtt_host),
            ("port", args.mqtt_port),
            ("client_id", args.client_id),
        )
        if v is not None
    }
    top = {
        k: v
        for k, v in (("db", args.db), ("sites", args.site), ("metrics_port", args.metrics_port))
        if v is not None
    }
    return parse(
        cfg.model_dump() | top | {"mqtt": cfg.mqtt.model_dump() | mqtt}, args.config or "flags"
    )


def _run(args: argparse.Namespace) -> int:
    import sys

    from central.config import ConfigError
    from central.ingest import run

    try:
        cfg = run_config(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    return run(cfg)


def _upgrade(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from central import db
    from central.config import ConfigError, load

    url = args.db
    if url is None:
        try:
            url = load(Path(args.config)).db if args.config else "sqlite:///hwms.db"
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
    db.upgrade(url)
    print(f"{db.redacted(url)}: at the latest schema")
    return 0


def _stock(args: argparse.Namespace) -> int:
    from central import db
    from central.ledger import Ledger

    rows = Ledger(db.engine(args.db)).stock(args.location, args.gtin, args.lot)
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            lot = r["lot"] or "(no lot)"
            expiry = r["expiry"] or ""
            print(f"{r['location']:<30} {r['gtin']:<14} {lot:<20} {expiry:<10} {r['quantity']:>6}")
    return 0


def _receive(args: argparse.Namespace) -> int:
    from pathlib import Path

    from central import db
    from central.ledger import Ledger, ReceiptError, new_receipt_number, parse_receipt_csv

    if args.epcis:
        from central.ledger import epcis_receipt

        if not args.location:
            raise ReceiptError("--epcis needs --location (where the items are received)")
        lines = epcis_receipt(json.loads(Path(args.epcis).read_text()), args.location)
    else:
        lines = parse_receipt_csv(Path(args.csv).read_text())
    number = args.number or new_receipt_number(SYSTEM_CLOCK.now())
    n = Ledger(db.engine(args.db)).receive(
        lines, actor=args.user, today=SYSTEM_CLOCK.today(), number=number
    )
    print(f"received {n} item(s) as receipt {number}")
    return 0


def _trace(args: argparse.Namespace) -> int:
    from central import db
    from central.ledger import Ledger

    result = Ledger(db.engine(args.db)).trace(args.gtin.zfill(14), args.lot)
    if args.json:
        print(json.dumps(result))
    elif not result["found"]:
        print(f"no batch {args.gtin} lot {args.lot}")
        return 1
    else:
        print(
            f"batch {result['gtin']} lot {result['lot']} expiry {result['expiry']}"
            f" locked={result['locked']}"
        )
        for u in result["units"]:
            print(f"  {u['epc']:<45} {u['location'] or '(out of stock)'}")
        for m in result["movements"]:
            print(
                f"  {m['at']} {m['kind']:<16} {m['from']} -> {m['to']} x{m['quantity']}"
                f" {m['actor']} {m['case']}"
            )
    return 0


def _alerts(args: argparse.Namespace) -> int:
    from central import alerts, db
    from central.ledger import Ledger

    lg = Ledger(db.engine(args.db))
    with lg.session() as s:
        rows = [alerts.as_dict(a) for a in alerts.open_alerts(s)]
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(
                f"#{r['id']:<5} {r['severity']:<8} {r['state']:<12} {r['kind']:<10} {r['message']}"
            )
    return 0


def _signed(ledger: Any, user: str, reason: str) -> Any:
    """The user's signature: their password from the terminal (or the first line of stdin
    when it is not one), checked now."""
    import getpass

    from central.signatures import sign_as

    if sys.stdin.isatty():
        password = getpass.getpass(f"{user}'s password, to sign: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    return sign_as(ledger.session.begin, user, password, reason, ledger.clock.now())


def _recall(args: argparse.Namespace) -> int:
    from central import db
    from central.ledger import Ledger

    lg = Ledger(db.engine(args.db))
    signed = _signed(lg, args.user, args.reason)
    lg.lock_batch(args.gtin.zfill(14), args.lot, signed=signed, locked=not args.unlock)
    print(f"batch {args.gtin} lot {args.lot} {'unlocked' if args.unlock else 'locked'}")
    return 0


def _book(args: argparse.Namespace) -> int:

    from central import db
    from central.ledger import Ledger

    n = Ledger(db.engine(args.db)).book(
        args.kind, location=args.location, user=args.user, reason=args.reason,
        epcs=tuple(args.epc or ()), gtin=(args.gtin or "").zfill(14) if args.gtin else "",
        lot=args.lot or "", quantity=args.quantity, case_id=args.case or "",
    )  # fmt: skip
    print(f"booked {n} item(s) as {args.kind}")
    return 0


def _stocktake(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from central import db
    from central.ledger import Ledger

    lg = Ledger(db.engine(args.db))
    if args.confirm is not None:
        if not args.reason:
            print("hwms central stocktake: --confirm is signed: give --reason", file=sys.stderr)
            return 2
        report = lg.confirm_stocktake(args.confirm, signed=_signed(lg, args.user, args.reason))
    else:
        if not args.location or not args.epcs:
            print("hwms central stocktake: give --location and --epcs FILE", file=sys.stderr)
            return 2
        epcs = [ln.strip() for ln in Path(args.epcs).read_text().splitlines() if ln.strip()]
        report = lg.stocktake(args.location, epcs, user=args.user, source=args.source)
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"stocktake #{report['id']} of {report['location']} ({report['state']}): expected"
        f" {report['expected']}, counted {report['counted']}, matched {report['matched']},"
        f" accuracy {report['accuracy']:.1%}"
    )
    for line in report["lines"]:
        print(f"  {line['finding']:<10} {line['epc']}  ledger: {line['ledger_location']}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from central import db, reports
    from central.ledger import Ledger

    end = datetime.combine(
        args.end or SYSTEM_CLOCK.today() + timedelta(days=1), datetime.min.time(), UTC
    )
    start = datetime.combine(
        args.start or (end - timedelta(days=30)).date(), datetime.min.time(), UTC
    )
    with Ledger(db.engine(args.db)).session() as s:
        result: Any
        if args.report == "consumption":
            result = reports.consumption(s, start, end)
        elif args.report == "top-consumers":
            result = reports.top_consumers(s, start, end)
        elif args.report == "slow-movers":
            result = reports.slow_movers(s, SYSTEM_CLOCK.now(), args.days)
        elif args.report == "supplier-kpis":
            from central.supplier_kpis import supplier_kpis

            result = supplier_kpis(s, start, end)
        elif args.report == "near-expiry":
            result = reports.near_expiry_value(s, SYSTEM_CLOCK.today(), args.days)
        else:
            result = reports.kpis(s, start, end, SYSTEM_CLOCK.today())
    print(json.dumps(result, indent=None if args.json else 1))
    return 0


def _import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from central import db
    from central.imports import import_master_data
    from central.ledger import Ledger

    lg = Ledger(db.engine(args.db))
    with lg.session.begin() as s:
        n = import_master_data(s, args.kind, Path(args.csv).read_text(), actor=args.user)
    print(f"imported {n} {args.kind}")
    return 0


def _forecast(args: argparse.Namespace) -> int:
    from pathlib import Path

    from central.planning.forecast import forecast_all
    from central.planning.history import read_history_csv

    if args.horizon < 1:
        print("hwms central forecast: --horizon must be at least 1 day", file=sys.stderr)
        return 2
    try:
        with Path(args.history).open(encoding="utf-8-sig", newline="") as stream:
            series = read_history_csv(stream)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"hwms central forecast: cannot read {args.history}: {exc}", file=sys.stderr)
        return 2
    forecasts = forecast_all(series, args.horizon, holidays=args.holiday)
    for (location, gtin), f in sorted(forecasts.items()):
        print(json.dumps({"location": location, "gtin": gtin, "start": f.start.isoformat(),
                          "method": f.method, "pattern": f.pattern,
                          "backtest_mae": None if f.mae is None else round(f.mae, 4),
                          "forecast": list(f.values)}))  # fmt: skip
    return 0


def _configured_ledger(args: argparse.Namespace) -> Any:
    """The ledger on `--db` (or the config's), migrated, with the `--config` rules; a bad
    configuration is a ConfigError (exit 2)."""
    from pathlib import Path

    from central import db
    from central.config import load, parse
    from central.ledger import Ledger

    cfg = load(Path(args.config)) if args.config else parse({})
    url = args.db or cfg.db
    db.upgrade(url)
    return Ledger(db.engine(url), requisitions=cfg.requisitions, supply=cfg.supply,
                  purchasing=cfg.purchasing)  # fmt: skip


def _propose(args: argparse.Namespace) -> int:
    from central.config import ConfigError

    try:
        ledger = _configured_ledger(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"made {ledger.propose_replenishment()} replenishment proposal(s)")
    return 0


def _host_port(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT")
    return value


def _api(args: argparse.Namespace) -> int:
    from pathlib import Path

    import uvicorn

    from central.api import create_app, load_tokens
    from central.config import ConfigError

    try:
        ledger = _configured_ledger(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    tokens = load_tokens(Path(args.tokens)) if args.tokens else {}
    app = create_app(ledger, tokens, secure_cookies=args.secure_cookies,
                     label_printer=args.label_printer)  # fmt: skip
    uvicorn.run(app, host=args.host, port=args.port, log_config=None)
    return 0


def _user(args: argparse.Namespace) -> int:
    from central import accounts, db
    from central.ledger import Ledger

    ledger = Ledger(db.engine(args.db))
    with ledger.session.begin() as s:
        if args.user_command == "add":
            if not args.password_stdin:
                print("hwms central user add: give the password on stdin (--password-stdin)",
                      file=sys.stderr)  # fmt: skip
                return 2
            password = sys.stdin.readline().rstrip("\r\n")
            accounts.add_user(s, args.name, role=args.role, password=password,
                              sites=args.site, departments=args.department,
                              supplier=args.supplier)  # fmt: skip
            print(f"user {args.name} added ({args.role})")
        elif args.user_command == "disable":
            accounts.disable_user(s, args.name)
            print(f"user {args.name} disabled")
        else:
            for u in accounts.users(s):
                state = "disabled" if u.disabled else "active"
                print(f"{u.id:<24} {u.role:<12} {state:<8} sites={u.sites or '*'}"
                      f" departments={u.departments or '*'}")  # fmt: skip
    return 0


def _token(args: argparse.Namespace) -> int:
    from central import accounts, db
    from central.ledger import Ledger

    ledger = Ledger(db.engine(args.db))
    with ledger.session.begin() as s:
        token = accounts.add_token(s, args.name, SYSTEM_CLOCK.now())
    print(token)  # shown once: only its hash is kept
    return 0


AUDIT_BROKEN = 7  # past the ledger errors' codes (central/errors.py) and 5, the database's


def _audit_verify(args: argparse.Namespace) -> int:
    """Exit 0 and a summary when every chain, checkpoint and chained row matches; 7 and
    the first records and rows that do not."""
    from datetime import UTC, datetime, time
    from pathlib import Path

    from central import db
    from central.audit_verify import verify

    key = args.public_key
    if key is not None and Path(key).is_file():
        key = Path(key).read_text().strip()
    since = datetime.combine(args.since, time(), tzinfo=UTC) if args.since else None
    eng = db.engine(args.db)
    try:
        with eng.connect() as conn:
            result = verify(conn, since=since, public_key=key)
    finally:
        eng.dispose()
    print(result.summary(), file=sys.stdout if result.intact else sys.stderr)
    return 0 if result.intact else AUDIT_BROKEN


def _audit_keygen(args: argparse.Namespace) -> int:
    from pathlib import Path

    from central.audit_checkpoints import new_key, public_hex

    try:
        key = new_key(Path(args.out))
    except FileExistsError:
        print(f"hwms central audit keygen: {args.out} exists (not overwritten)", file=sys.stderr)
        return 1
    print(public_hex(key))
    return 0


def _audit_checkpoint(args: argparse.Namespace) -> int:
    from pathlib import Path

    from central import audit_checkpoints, db
    from central.ledger import Ledger

    key = audit_checkpoints.load_key(Path(args.key_file).read_text())
    lg = Ledger(db.engine(args.db))
    with lg.session.begin() as s:
        made = audit_checkpoints.make_checkpoints(s, key, lg.clock.now())
    for cp in made:
        print(cp.dumps().decode())
    return 0


def _date(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


def add_commands(sub: Any) -> None:
    from central.imports import COLUMNS

    central = sub.add_parser("central", help="the central ledger").add_subparsers(
        dest="central_command", required=True
    )
    p = central.add_parser("run", help="ingest every gateway's events into the ledger")
    p.add_argument("--config", help="YAML (see config/central.example.yaml); flags override it")
    p.add_argument("--db", help="default sqlite:///hwms.db")
    p.add_argument("--mqtt-host", help="default 127.0.0.1")
    p.add_argument("--mqtt-port", type=int, help="default 1883")
    p.add_argument("--client-id", help="default hwms-ledger-1")
    p.add_argument(
        "--site", action="append", help="publish the commissioning map to this site (repeatable)"
    )
    p.add_argument("--metrics-port", type=int, help="Prometheus on 127.0.0.1 (0: off)")
    p.set_defaults(func=_errors(_run), log_level_default="INFO")
    dbp = central.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    p = dbp.add_parser("upgrade", help="apply the Alembic migrations")
    p.add_argument("--db", help="default: the config's db, else sqlite:///hwms.db")
    p.add_argument("--config", help="take the database URL from this central.yaml")
    p.set_defaults(func=_errors(_upgrade), log_level_default="INFO")
    p = central.add_parser("stock", help="stock per location and batch")
    p.add_argument("--db", default="sqlite:///hwms.db")
    p.add_argument("--location", help="a location code; covers the locations below it")
    p.add_argument("--gtin")
    p.add_argument("--lot")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_errors(_stock))
    p = central.add_parser(
        "receive", help="commission items from a CSV (epc,gtin,lot,expiry,location)"
    )
    p.add_argument("--db", default="sqlite:///hwms.db")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", help="epc,gtin,lot,expiry,location")
    src.add_argument("--epcis", help="an EPCIS 2.0 JSON document of commissioning events")
    p.add_argument("--location", help="with --epcis: where the items are, e.g. site/zone")
    p.add_argument("--number", help="the delivery note number (default: generated)")
    p.add_argument("--user", default="receiving")
    p.set_defaults(func=_errors(_receive))
    p = central.add_parser("book", help="a return, loss, scrap or manual adjustment")
    p.add_argument("kind", choices=["return", "loss", "scrap", "adjustment"])
    p.add_argument("--db", default="sqlite:///hwms.db")
    p.add_argument("--location", required=True, help="site/zone")
    p.add_argument("--user", required=True)
    p.add_argument("--reason", required=True)
    p.add_argument("--epc", action="append", help="a tagged item (repeatable)")
    p.add_argument("--gtin", help="untagged goods: GTIN, --lot and --quantity (signed)")
    p.add_argument("--lot")
    p.add_argument("--quantity", type=int, default=0)
    p.add_argument("--case", help="the case/patient a return belongs to")
    p.set_defaults(func=_errors(_book))
    p = central.add_parser("stocktake", help="compare a count with the ledger, or --confirm it")
    p.add_argument("--db", default="sqlite:///hwms.db")
    p.add_argument("--location", help="site/zone")
    p.add_argument("--epcs", help="a file with one EPC URI per line (handheld or cabinet scan)")
    p.add_argument("--source", default="handheld", choices=["handheld", "cabinet"])
    p.add_argument("--confirm", type=int, metavar="ID", help="book stocktake ID's lines")
    p.add_argument("--user", required=True)
    p.add_argument("--reason", help="why (the confirmation is signed: the password on stdin)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_errors(_stocktake))
    p = central.add_parser("report", help="reports and KPIs (JSON)")
    p.add_argument(
        "report",
        choices=[
            "consumption",
            "top-consumers",
            "slow-movers",
            "near-expiry",
            "kpis",
            "supplier-kpis",
        ],
    )
    p.add_argument("--db", default="sqlite:///hwms.db")
    p.add_argument("--start", type=_date, help="YYYY-MM-DD (default: 30 days before --end)")
    p.add_argument("--end", type=_date, help="YYYY-MM-DD, exclusive (default: tomorrow)")
    p.add_argument("--days", type=int, default=90, help="slow-movers, near-expiry horizon")
    p.add_argument("--json", action="store_true", help="one line")
    p.set_defaults(func=_errors(_report))
    p = central.add_parser("import", help="master data from CSV")
    p.add_argument("kind", choices=list(COLUMNS))
    p.add_argument("--db", default="sqlite:///hwms.db")
    p.add_argument("--csv", required=True)
    p.add_argument("--user", default="import", help="who imports (audit log)")
    p.set_defaults(func=_errors(_import))
    p = central.add_parser(
        "forecast", help="daily demand forecasts from a history CSV (JSON lines)"
    )
    p.add_argument(
        "--history",
        required=True,
        metavar="CSV",
        help="date,location,gtin,quantity: daily consumption, missing days are zero",
    )
    p.add_argument("--horizon", required=True, type=int, metavar="DAYS")
    p.add_argument(
        "--holiday",
        type=_date,
        action="append",
        default=[],
        metavar="YYYY-MM-DD",
        help="a holiday (repeat the flag): taken out of the fit, put back as such",
    )
    p.set_defaults(func=_errors(_forecast))
    p = central.add_parser("propose", help="replenishment proposals from forecasts, now")
    p.add_argument("--config", help="YAML: supply, purchasing (service levels, store...)")
    p.add_argument("--db", help="default: the config's, else sqlite:///hwms.db")
    p.set_defaults(func=_errors(_propose))
    p = central.add_parser("trace", help="where every unit of a batch is, and its movements")
    p.add_argument("--db", default="sqlite:///hwms.db")
    p.add_argument("--gtin", required=True)
    p.add_argument("--lot", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_errors(_trace))
    p = central.add_parser("recall", help="lock (or --unlock) a batch for a recall")
    p.add_argument("--db", default="sqlite:///hwms.db")
    p.add_argument("--gtin", required=True)
    p.add_argument("--lot", required=True)
    p.add_argument("--user", required=True, help="who signs (the password on stdin)")
    p.add_argument("--reason", required=True, help="why: the recall notice, say")
    p.add_argument("--unlock", action="store_true")
    p.set_defaults(func=_errors(_recall))
    p = central.add_parser("api", help="serve the HTTP API (OpenAPI at /docs)")
    p.add_argument("--config", help="the ledger's YAML (its db, requisitions and supply)")
    p.add_argument("--db", help="the database URL (default: the config's, sqlite:///hwms.db)")
    p.add_argument(
        "--tokens", help='optional JSON: {"<sha256 of token>": {"user": ..., "role": ...}}'
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--secure-cookies", action="store_true",
                   help="behind HTTPS: session cookies only over TLS, HSTS")  # fmt: skip
    p.add_argument("--label-printer", type=_host_port, metavar="HOST:PORT",
                   help="RFID label printer (ZPL over raw TCP, usually port 9100) for tags and"
                   " labels written at the scan screens")  # fmt: skip
    p.set_defaults(func=_errors(_api), log_level_default="INFO")
    user = central.add_parser("user", help="people who log in: add, list, disable")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    p = user_sub.add_parser("add", help="a user with a role and a scope")
    p.add_argument("name")
    p.add_argument("--role", required=True, help="nurse, head, storekeeper, quality,"
                   " purchasing, admin, viewer, supplier or system")  # fmt: skip
    p.add_argument("--supplier", help="a supplier's user (role supplier): the supplier's code")
    p.add_argument("--site", action="append", help="a site in scope (repeat; none: all)")
    p.add_argument("--department", action="append",
                   help="a department in scope (repeat; none: all)")  # fmt: skip
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--db", default="sqlite:///hwms.db")
    p.set_defaults(func=_errors(_user))
    for name, text in (("list", "the users who log in"), ("disable", "no more logins")):
        p = user_sub.add_parser(name, help=text)
        if name == "disable":
            p.add_argument("name")
        p.add_argument("--db", default="sqlite:///hwms.db")
        p.set_defaults(func=_errors(_user))
    token = central.add_parser("token", help="API tokens for machines, per user")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    p = token_sub.add_parser("add", help="print a new token for a user (once)")
    p.add_argument("name")
    p.add_argument("--db", default="sqlite:///hwms.db")
    p.set_defaults(func=_errors(_token))
    audit = central.add_parser("audit", help="the tamper-evident ledger").add_subparsers(
        dest="audit_command", required=True
    )
    p = audit.add_parser("verify", help="check the hash chains, checkpoints and chained rows")
    p.add_argument("--db", default="sqlite:///hwms.db")
    p.add_argument("--since", type=_date, help="YYYY-MM-DD: from the last checkpoint before it")
    p.add_argument("--public-key", help="the checkpoints' Ed25519 key (hex, or a file of it)")
    p.set_defaults(func=_errors(_audit_verify))
    p = audit.add_parser(
        "keygen", help="a new Ed25519 checkpoint signing key (prints its public key)"
    )
    p.add_argument("--out", required=True, help="where to write the private key (PEM, mode 600)")
    p.set_defaults(func=_errors(_audit_keygen))
    p = audit.add_parser("checkpoint", help="sign the chain heads now")
    p.add_argument("--db", default="sqlite:///hwms.db")
    p.add_argument("--key-file", required=True, help="the PEM private key")
    p.set_defaults(func=_errors(_audit_checkpoint))
    p = central.add_parser("alerts", help="open alerts")
    p.add_argument("--db", default="sqlite:///hwms.db")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_errors(_alerts))
