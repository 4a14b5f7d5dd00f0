"""Cold-chain compliance records: one unit's period as an auditor reads it (per UTC day the
min, max, mean and MKT, minutes recorded and minutes outside the alarm limits; the period's
figures; every excursion with its acknowledgement and comment), as JSON, CSV and PDF, and
kept as signed by the reviewing user (`ColdChainReport`, `central/signatures.py`)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central import signatures
from central.accounts import Principal
from central.clock import as_utc
from central.coldchain import daily
from central.errors import Conflict, Forbidden, Invalid, NotFound
from central.models import Alert, ColdChainReport, ColdSensor, SensorHour, Signature
from central.vocab import Permission
from rules.coldchain import KELVIN, MKT_DH_OVER_R

if TYPE_CHECKING:
    from central.ledger import Ledger

MAX_DAYS = 366
DAY_COLUMNS = ("day", "min_c", "max_c", "mean_c", "mkt_c", "minutes", "outside_minutes", "faults")
EXCURSION_COLUMNS = (
    "condition",
    "severity",
    "raised_at",
    "cleared_at",
    "acknowledged_by",
    "acknowledged_at",
    "comment",
    "message",
)


def _iso(at: datetime | None) -> str | None:
    aware = as_utc(at)
    return None if aware is None else aware.isoformat()


def unit_report(s: Session, sensor: ColdSensor, start: date, end: date) -> dict[str, Any]:
    """The record of `sensor`'s unit from `start` to `end` (exclusive), from the hourly
    roll-up of its minutes and from its cold-chain alerts."""
    if not start < end or (end - start).days > MAX_DAYS:
        raise Invalid(f"a report covers 1 to {MAX_DAYS} days (start before end)")
    first = datetime.combine(start, time(), UTC)
    stop = datetime.combine(end, time(), UTC)
    h = SensorHour
    lo, hi, mean_sum, samples, exp_sum, valid, minutes, outside, faults = s.execute(
        select(
            func.min(h.min_c),
            func.max(h.max_c),
            func.sum(h.mean_sum),
            func.sum(h.samples),
            func.sum(h.exp_sum),
            func.sum(h.valid),
            func.sum(h.minutes),
            func.sum(h.outside),
            func.sum(h.faults),
        ).where(h.sensor_id == sensor.id, h.hour >= first, h.hour < stop)
    ).one()
    means = _daily_means(s, sensor, first, stop)
    days = [
        d | {"day": d["day"].isoformat(), "mean_c": means.get(d["day"])}
        for d in daily(s, sensor, first, stop)
    ]
    expected = int((stop - first).total_seconds() // 60)
    return {
        "site": sensor.site,
        "unit": sensor.unit,
        "sensor": sensor.sensor,
        "low_c": sensor.low_c,
        "high_c": sensor.high_c,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "period": {
            "min_c": lo,
            "max_c": hi,
            "mean_c": round(mean_sum / samples, 2) if samples else None,
            "mkt_c": _mkt(exp_sum, valid),
            "minutes": int(minutes or 0),
            "expected_minutes": expected,
            "coverage": round(int(minutes or 0) / expected, 4) if expected else None,
            "outside_minutes": int(outside or 0),
            "faults": int(faults or 0),
        },
        "days": days,
        "excursions": _excursions(s, sensor, first, stop),
    }


def _mkt(exp_sum: float | None, valid: int | None) -> float | None:
    if not valid or not exp_sum:
        return None
    return round(MKT_DH_OVER_R / -math.log(exp_sum / valid) - KELVIN, 2)


def _daily_means(
    s: Session, sensor: ColdSensor, first: datetime, stop: datetime
) -> dict[date, float]:
    h = SensorHour
    out: dict[date, list[float]] = {}
    for hour, mean_sum, samples in s.execute(
        select(h.hour, h.mean_sum, h.samples).where(
            h.sensor_id == sensor.id, h.hour >= first, h.hour < stop
        )
    ):
        day = _utc(hour).date()
        acc = out.setdefault(day, [0.0, 0.0])
        acc[0] += mean_sum
        acc[1] += samples
    return {d: round(total / n, 2) for d, (total, n) in out.items() if n}


def _utc(at: datetime) -> datetime:
    aware = as_utc(at)
    assert aware is not None
    return aware.astimezone(UTC)


def _excursions(
    s: Session, sensor: ColdSensor, first: datetime, stop: datetime
) -> list[dict[str, Any]]:
    """The unit's cold-chain alerts open at any time of the period, oldest first."""
    prefix = f"{sensor.site}/{sensor.unit}/"
    rows = s.scalars(
        select(Alert)
        .where(
            Alert.kind == "coldchain",
            Alert.key.startswith(prefix, autoescape=True),
            Alert.raised_at < stop,
            (Alert.cleared_at.is_(None)) | (Alert.cleared_at >= first),
        )
        .order_by(Alert.raised_at, Alert.id)
    )
    return [
        {
            "condition": a.key.removeprefix(prefix),
            "severity": a.severity,
            "raised_at": _iso(a.raised_at),
            "cleared_at": _iso(a.cleared_at),
            "acknowledged_by": a.acknowledged_by,
            "acknowledged_at": _iso(a.acknowledged_at),
            "comment": a.ack_comment or "",
            "message": a.message,
        }
        for a in rows
    ]


def canonical(content: dict[str, Any]) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(content).encode()).hexdigest()


def stored(
    s: Session,
    sensor: ColdSensor,
    start: date,
    end: date,
    now: datetime,
    signature: Signature | None,
) -> ColdChainReport:
    """The report as it is now, kept (and signed when `signature` is given)."""
    content = unit_report(s, sensor, start, end)
    row = ColdChainReport(
        sensor_id=sensor.id,
        start=start,
        end=end,
        content=canonical(content),
        digest=digest(content),
        created_at=now,
        signature_id=signature.id if signature else None,
    )
    s.add(row)
    s.flush()
    return row


def as_dict(s: Session, row: ColdChainReport) -> dict[str, Any]:
    """A kept report: its content as signed, the digest, and the signature."""
    sig = s.get(Signature, row.signature_id) if row.signature_id else None
    content: dict[str, Any] = json.loads(row.content)
    return content | {
        "id": row.id,
        "digest": row.digest,
        "created_at": _iso(row.created_at),
        "signature": None
        if sig is None
        else {
            "user": sig.user,
            "role": sig.role,
            "reason": sig.reason,
            "at": _iso(sig.at),
            "method": sig.method,
        },
    }


def report_csv(report: dict[str, Any]) -> str:
    """The days, then (after a blank line) the excursions, each with its header."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(DAY_COLUMNS)
    for d in report["days"]:
        w.writerow(["" if d.get(c) is None else d[c] for c in DAY_COLUMNS])
    w.writerow([])
    w.writerow(EXCURSION_COLUMNS)
    for e in report["excursions"]:
        w.writerow(["" if e.get(c) is None else e[c] for c in EXCURSION_COLUMNS])
    return out.getvalue()


def report_pdf(report: dict[str, Any]) -> bytes:
    """An A4 record: the unit and period, the period's figures, the days, the excursions
    with their acknowledgements, and who reviewed and signed it (or that nobody has)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    from central.pdf import cjk_font, escape

    font = cjk_font()
    styles = getSampleStyleSheet()
    for style in styles.byName.values():
        style.fontName = font
    p = report["period"]

    def num(x: Any) -> str:
        return "" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)

    grid = TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), font),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )
    limits = f"{num(report['low_c'])} to {num(report['high_c'])} °C"
    story: list[Any] = [
        Paragraph(
            f"Cold-chain record: {escape(report['unit'])} ({escape(report['site'])})",
            styles["Title"],
        ),
        Paragraph(
            f"Sensor {escape(report['sensor'])}; alarm limits {limits}; from "
            f"{report['start']} to {report['end']} (exclusive), UTC days",
            styles["Normal"],
        ),
        Spacer(1, 4 * mm),
    ]
    summary = [
        [
            "min °C",
            "max °C",
            "mean °C",
            "MKT °C",
            "minutes recorded",
            "coverage",
            "minutes out of range",
            "faults",
        ],
        [
            num(p["min_c"]),
            num(p["max_c"]),
            num(p["mean_c"]),
            num(p["mkt_c"]),
            str(p["minutes"]),
            "" if p["coverage"] is None else f"{p['coverage']:.1%}",
            str(p["outside_minutes"]),
            str(p["faults"]),
        ],
    ]
    story += [
        Paragraph("The period", styles["Heading2"]),
        Table(summary, style=grid),
        Paragraph("Per day", styles["Heading2"]),
    ]
    rows = [["Day", "min °C", "max °C", "mean °C", "MKT °C", "minutes", "out of range", "faults"]]
    rows += [
        [
            d["day"],
            num(d["min_c"]),
            num(d["max_c"]),
            num(d["mean_c"]),
            num(d["mkt_c"]),
            str(d["minutes"]),
            str(d["outside_minutes"]),
            str(d["faults"]),
        ]
        for d in report["days"]
    ]
    story += [Table(rows, style=grid, repeatRows=1)]
    story.append(Paragraph("Excursions", styles["Heading2"]))
    if report["excursions"]:
        ex: list[list[Any]] = [["Condition", "Raised", "Cleared", "Acknowledged", "Comment"]]
        ex += [
            [
                e["condition"],
                (e["raised_at"] or "")[:16],
                (e["cleared_at"] or "")[:16],
                f"{e['acknowledged_by'] or ''} {(e['acknowledged_at'] or '')[:16]}".strip(),
                Paragraph(escape(e["comment"]), styles["BodyText"]),
            ]
            for e in report["excursions"]
        ]
        story.append(
            Table(
                ex,
                style=grid,
                repeatRows=1,
                colWidths=[26 * mm, 30 * mm, 30 * mm, 40 * mm, 48 * mm],
            )
        )
    else:
        story.append(Paragraph("None.", styles["Normal"]))
    story.append(Spacer(1, 6 * mm))
    sig = report.get("signature")
    if sig:
        story.append(
            Paragraph(
                f"Reviewed and signed by {escape(sig['user'])} ({escape(sig['role'])}) at "
                f"{sig['at'][:19]} UTC by {sig['method']}: {escape(sig['reason'])}",
                styles["Normal"],
            )
        )
        story.append(Paragraph(f"Content SHA-256 {report['digest']}", styles["Normal"]))
    else:
        story.append(Paragraph("Not reviewed: this record is not signed.", styles["Normal"]))
    out = io.BytesIO()
    title = f"Cold-chain record {report['unit']} {report['start']}"
    SimpleDocTemplate(out, pagesize=A4, title=title, leftMargin=15 * mm, rightMargin=15 * mm).build(
        story
    )
    return out.getvalue()


def download(report: dict[str, Any], fmt: str) -> tuple[bytes, str, str]:
    """(body, media type, Content-Disposition) of the report as `csv` or `pdf`."""
    import re

    unit = re.sub(r"[^A-Za-z0-9._-]+", "_", report["unit"]).strip("_") or "unit"  # a header
    name = f"coldchain-{unit}-{report['start']}"
    if fmt == "csv":
        return (report_csv(report).encode(), "text/csv; charset=utf-8",
                f'attachment; filename="{name}.csv"')  # fmt: skip
    return report_pdf(report), "application/pdf", f'inline; filename="{name}.pdf"'


def previous_month(today: date) -> tuple[date, date]:
    """The calendar month before `today`'s: (its first day, the first day of this one)."""
    this = today.replace(day=1)
    return (this - timedelta(days=1)).replace(day=1), this


def scoped_sensor(ledger: Ledger, who: Principal, sensor_id: int) -> ColdSensor:
    """The unit's sensor if it is in the user's scope; NotFound otherwise."""
    from central import coldchain

    with ledger.session() as s:
        if not any(u.id == sensor_id for u in coldchain.units(s, ledger.clock.now(), who)):
            raise NotFound(f"no cold-chain unit {sensor_id} in your scope")
        sensor = s.get(ColdSensor, sensor_id)
        assert sensor is not None
        return sensor


def sign_report(
    ledger: Ledger, who: Principal, sensor_id: int, start: date, end: date, *,
    password: str, reason: str,
) -> dict[str, Any]:  # fmt: skip
    """Keep the period's record signed by `who` (role quality): the password again and a
    reason; what was signed stays as it was, with its SHA-256."""
    if not who.may(Permission.REVIEW):
        raise Forbidden(f"the {who.role} role may not sign cold-chain records")
    sensor = scoped_sensor(ledger, who, sensor_id)
    now = ledger.clock.now()
    signed = signatures.sign(ledger.session.begin, who, password, reason, now)
    with ledger.session.begin() as s:
        subject = f"{sensor.site}/{sensor.unit} {start}..{end}"
        sig = signed.record(s, action="coldchain_report", subject=subject, now=now)
        row = stored(s, sensor, start, end, now, sig)
        return as_dict(s, row)


def kept_report(ledger: Ledger, who: Principal, report_id: int) -> dict[str, Any]:
    with ledger.session() as s:
        row = s.get(ColdChainReport, report_id)
        if row is None:
            raise NotFound(f"no cold-chain report {report_id}")
        scoped_sensor(ledger, who, row.sensor_id)
        return as_dict(s, row)


def kept_reports(ledger: Ledger, sensor_id: int) -> list[dict[str, Any]]:
    """The unit's kept reports, newest first (without their content)."""
    with ledger.session() as s:
        rows = s.execute(
            select(ColdChainReport, Signature)
            .join(Signature, Signature.id == ColdChainReport.signature_id, isouter=True)
            .where(ColdChainReport.sensor_id == sensor_id)
            .order_by(ColdChainReport.id.desc())
        ).all()
        return [{"id": r.id, "start": r.start.isoformat(), "end": r.end.isoformat(),
                 "last": (r.end - timedelta(days=1)).isoformat(),
                 "created_at": _iso(r.created_at), "signed_by": sig.user if sig else None,
                 "reason": sig.reason if sig else ""} for r, sig in rows]  # fmt: skip


def sign_kept(
    ledger: Ledger, who: Principal, report_id: int, *, password: str, reason: str
) -> dict[str, Any]:
    """Sign a kept report not signed yet (a monthly one the ledger made), as it was made."""
    if not who.may(Permission.REVIEW):
        raise Forbidden(f"the {who.role} role may not sign cold-chain records")
    found = kept_report(ledger, who, report_id)  # exists and is in scope
    if found["signature"] is not None:
        raise Conflict(f"cold-chain report {report_id} is signed already")
    now = ledger.clock.now()
    signed = signatures.sign(ledger.session.begin, who, password, reason, now)
    with ledger.session.begin() as s:
        row = s.get(ColdChainReport, report_id, with_for_update=ledger.engine.dialect.name
                    == "postgresql")  # fmt: skip
        assert row is not None
        if row.signature_id is not None:
            raise Conflict(f"cold-chain report {report_id} is signed already")
        subject = f"{found['site']}/{found['unit']} {row.start}..{row.end}"
        sig = signed.record(s, action="coldchain_report", subject=subject, now=now)
        row.signature_id = sig.id
        return as_dict(s, row)


def monthly_reports(ledger: Ledger, today: date) -> int:
    """Last calendar month's record of every unit, kept unsigned for review (once each);
    returns how many were made."""
    start, end = previous_month(today)
    now = ledger.clock.now()
    made = 0
    with ledger.session.begin() as s:
        done = set(s.scalars(select(ColdChainReport.sensor_id).where(
            ColdChainReport.start == start, ColdChainReport.end == end)))  # fmt: skip
        for sensor in s.scalars(select(ColdSensor).order_by(ColdSensor.id)):
            if sensor.id not in done:
                stored(s, sensor, start, end, now, None)
                made += 1
    return made
