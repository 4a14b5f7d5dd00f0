"""A purchase order as the supplier receives it: a PDF to read, a CSV for its order entry and
a FHIR R5 transaction Bundle of SupplyRequests (one per line: R5's SupplyRequest orders one
item) for a supplier system that takes FHIR. All three come from the ledger's dict of the
order (`Ledger.purchase_order`), so they always say the same."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

GTIN_SYSTEM = "https://www.gs1.org/gtin"
PO_SYSTEM = "urn:hwms:purchase-order"  # the order's number
PO_LINE_SYSTEM = "urn:hwms:purchase-order-line"  # <number>/<line>
CSV_COLUMNS = (
    "po_number",
    "line",
    "gtin",
    "reference",
    "name",
    "order_units",
    "quantity",
    "unit_price",
    "line_value",
    "supplier",
    "deliver_to",
    "delivery_date",
)


def _line_value(line: dict[str, Any]) -> Decimal | None:
    price = line.get("unit_price")
    return None if price is None else Decimal(price) * int(line["quantity"])


def order_csv(order: dict[str, Any]) -> str:
    """One row per line; quantities in eaches and in the supplier's order units."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for i, line in enumerate(order["lines"], start=1):
        value = _line_value(line)
        writer.writerow(
            [
                order["number"],
                i,
                line["gtin"],
                line["reference"],
                line["name"],
                line["order_units"],
                line["quantity"],
                line["unit_price"] or "",
                "" if value is None else f"{value:.2f}",
                order["supplier"],
                order["location"],
                order["delivery_date"] or "",
            ]
        )
    return out.getvalue()


def order_pdf(order: dict[str, Any], buyer: str) -> bytes:
    """A one-document purchase order (A4) with a CJK-capable font for product names."""
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
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"Purchase order {order['number']}",
        author=buyer,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
    )
    head = [
        Paragraph(f"Purchase order {order['number']}", styles["Title"]),
        Paragraph(f"From: {escape(buyer)}", styles["Normal"]),
        Paragraph(
            f"To: {escape(order['supplier_name'] or order['supplier'])}"
            f" ({escape(order['supplier'])})",
            styles["Normal"],
        ),
        Paragraph(f"Deliver to: {escape(order['location'])}", styles["Normal"]),
        Paragraph(
            f"Date: {(order['sent_at'] or order['created_at'] or '')[:10]}", styles["Normal"]
        ),
        Spacer(1, 6 * mm),
    ]
    rows: list[list[Any]] = [["#", "GTIN", "Ref.", "Product", "Units", "Eaches", "Price", "Value"]]
    total = Decimal(0)
    for i, line in enumerate(order["lines"], start=1):
        value = _line_value(line)
        total += value or 0
        rows.append(
            [
                str(i),
                line["gtin"],
                line["reference"],
                Paragraph(escape(line["name"]), styles["BodyText"]),
                str(line["order_units"]),
                str(line["quantity"]),
                line["unit_price"] or "",
                "" if value is None else f"{value:.2f}",
            ]
        )
    rows.append(["", "", "", "Total", "", "", "", f"{total:.2f}"])
    table = Table(
        rows,
        colWidths=[8 * mm, 32 * mm, 20 * mm, 50 * mm, 14 * mm, 16 * mm, 16 * mm, 20 * mm],
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), font),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("GRID", (0, 0), (-1, -2), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("ALIGN", (4, 1), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    tail = [
        Spacer(1, 6 * mm),
        Paragraph(
            "Please confirm the delivery date and send an advance ship notice with lots, expiries "
            "and serials or EPCs, quoting the order number.",
            styles["Normal"],
        ),
    ]
    doc.build([*head, table, *tail])
    return out.getvalue()


def supply_request_bundle(order: dict[str, Any], buyer: str) -> dict[str, Any]:
    """A FHIR R5 transaction Bundle: one SupplyRequest per line, validated by fhir.resources."""
    from fhir.resources.bundle import Bundle

    entries = []
    for i, line in enumerate(order["lines"], start=1):
        resource: dict[str, Any] = {
            "resourceType": "SupplyRequest",
            "identifier": [
                {"system": PO_LINE_SYSTEM, "value": f"{order['number']}/{i}"},
                {"system": PO_SYSTEM, "value": order["number"]},
            ],
            "status": "active",
            "category": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/supplyrequest-kind",
                        "code": "central",
                        "display": "Central Supply",
                    }
                ]
            },
            "priority": "routine",
            "item": {
                "concept": {
                    "coding": [
                        {
                            "system": GTIN_SYSTEM,
                            "code": line["gtin"],
                            "display": line["name"] or line["gtin"],
                        }
                    ],
                    "text": line["name"] or line["gtin"],
                }
            },
            "quantity": {
                "value": line["quantity"],
                "unit": "each",
                "system": "http://unitsofmeasure.org",
                "code": "{each}",
            },
            "authoredOn": order["sent_at"] or order["created_at"],
            "requester": {"display": buyer},
            "supplier": [
                {
                    "identifier": {"system": "urn:hwms:supplier", "value": order["supplier"]},
                    "display": order["supplier_name"] or order["supplier"],
                }
            ],
            "deliverTo": {
                "identifier": {"system": "urn:hwms:location", "value": order["location"]},
                "display": order["location"],
            },
        }
        if order["delivery_date"]:
            resource["occurrenceDateTime"] = order["delivery_date"]
        if line["reference"]:
            resource["item"]["concept"]["coding"].append(
                {
                    "system": f"urn:hwms:supplier:{order['supplier']}:article",
                    "code": line["reference"],
                }
            )
        entries.append(
            {
                "fullUrl": f"urn:uuid:{_uuid(order['number'], i)}",
                "resource": resource,
                "request": {
                    "method": "POST",
                    "url": "SupplyRequest",
                    "ifNoneExist": f"identifier={PO_LINE_SYSTEM}|{order['number']}/{i}",
                },
            }
        )
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)


def _uuid(number: str, line: int) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{PO_LINE_SYSTEM}:{number}/{line}"))


def download(order: dict[str, Any], fmt: str, buyer: str) -> tuple[bytes, str, str]:
    """(body, media type, Content-Disposition) of the order as `pdf`, `csv` or `fhir`."""
    import json

    name = order["number"]
    if fmt == "csv":
        return (order_csv(order).encode(), "text/csv; charset=utf-8",
                f'attachment; filename="{name}.csv"')  # fmt: skip
    if fmt == "fhir":
        return (json.dumps(supply_request_bundle(order, buyer)).encode(),
                "application/fhir+json", f'attachment; filename="{name}.json"')  # fmt: skip
    return order_pdf(order, buyer), "application/pdf", f'inline; filename="{name}.pdf"'
