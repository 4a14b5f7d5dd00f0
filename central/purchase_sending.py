"""Sending a purchase order to its supplier: by e-mail (SMTP, with the PDF and the CSV
attached) and, for a supplier with a FHIR endpoint, as a transaction Bundle of SupplyRequests
POSTed to its base URL. A failure is a `SendError` (HTTP 502) naming the peer and what it
said; the order stays approved, so it is sent again, not lost."""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import structlog

from central.accounts import Principal
from central.config import SmtpConfig
from central.errors import Conflict, Forbidden, Invalid, LedgerError
from central.ledger import Ledger
from central.models import Supplier
from central.vocab import Permission

log = structlog.get_logger(__name__)


class SendError(LedgerError):
    """The supplier's mail server or FHIR server refused or did not answer."""

    http_status = 502
    exit_code = 7


def email_order(
    smtp: SmtpConfig,
    to: str,
    order: dict[str, Any],
    *,
    buyer: str,
    pdf: bytes,
    csv_text: str,
) -> str:
    """Send the order by e-mail; returns the message id."""
    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = to
    msg["Subject"] = f"Purchase order {order['number']} from {buyer}"
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or None)
    lines = "\n".join(
        f"  {ln['quantity']:>7} x {ln['gtin']} {ln['reference']} {ln['name']}"
        for ln in order["lines"]
    )
    msg.set_content(
        f"Dear {order['supplier_name'] or order['supplier']},\n\n"
        f"please deliver to {order['location']}:\n{lines}\n\n"
        "The order is attached as PDF and CSV. Please confirm the delivery date and send an "
        f"advance ship notice quoting {order['number']}.\n\n{buyer}\n"
    )
    msg.add_attachment(
        pdf, maintype="application", subtype="pdf", filename=f"{order['number']}.pdf"
    )
    msg.add_attachment(
        csv_text.encode("utf-8"),
        maintype="text",
        subtype="csv",
        filename=f"{order['number']}.csv",
        params={"charset": "utf-8"},
    )
    password = smtp.password_file.read_text().strip() if smtp.password_file else None
    try:
        client: smtplib.SMTP
        if smtp.security == "tls":
            client = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout_s, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username and password is not None:
                client.login(smtp.username, password)
            refused = client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("purchase order e-mail failed", order=order["number"], error=str(exc))
        raise SendError(
            f"{order['number']}: the mail server {smtp.host}:{smtp.port} "
            f"did not take the e-mail to {to}: {exc}"
        ) from None
    if refused:
        raise SendError(f"{order['number']}: the mail server refused {', '.join(refused)}")
    log.info("purchase order e-mailed", order=order["number"], to=to)
    return str(msg["Message-ID"])


def post_fhir(base_url: str, bundle: dict[str, Any], order: str, timeout_s: float = 15.0) -> int:
    """POST the transaction Bundle to the supplier's FHIR base; returns the HTTP status."""
    req = urllib.request.Request(
        base_url.rstrip("/") + "/",
        data=json.dumps(bundle).encode(),
        method="POST",
        headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        body = exc.read(500).decode("utf-8", "replace")
        log.warning("purchase order FHIR post refused", order=order, status=exc.code)
        raise SendError(
            f"{order}: the supplier's FHIR server answered {exc.code}: {body[:200]}"
        ) from None
    except OSError as exc:
        log.warning("purchase order FHIR post failed", order=order, error=str(exc))
        raise SendError(
            f"{order}: the supplier's FHIR server {base_url} did not answer: {exc}"
        ) from None
    log.info("purchase order posted as FHIR", order=order, status=status)
    return status


def send_order(
    ledger: Ledger, who: Principal, order_id: int, channels: list[str]
) -> dict[str, Any]:
    """Send an approved order by the `channels` asked for (default: the e-mail and the FHIR
    server its supplier has) and record it sent with the channels that took it. When every
    channel failed it stays approved (`SendError`)."""
    from central.purchase_documents import order_csv, order_pdf, supply_request_bundle

    order = ledger.purchase_order(who, order_id)
    if not who.may(Permission.PURCHASE):
        raise Forbidden(f"the {who.role} role may not send purchase orders")
    if order["status"] != "approved":
        raise Conflict(f"{order['number']}: a {order['status']} purchase order cannot be sent")
    rules = ledger.purchasing_rules
    with ledger.session() as s:
        supplier = s.get(Supplier, order["supplier"])
        assert supplier is not None  # an order's supplier is a foreign key
        email, fhir_url = supplier.email, supplier.fhir_url
    wanted = list(dict.fromkeys(channels)) or [
        c for c, ok in (("email", bool(email and rules.smtp)), ("fhir", bool(fhir_url))) if ok
    ]
    if not wanted:
        raise Invalid(
            f"{order['number']}: {order['supplier']} has no e-mail address (or no "
            "mail server is configured: purchasing.smtp) and no FHIR endpoint; "
            "download the order and send it by hand (channel manual)"
        )
    if "email" in wanted and not (email and rules.smtp):
        raise Invalid("channels: e-mail needs the supplier's address and purchasing.smtp")
    if "fhir" in wanted and not fhir_url:
        raise Invalid(f"channels: {order['supplier']} has no fhir_url")
    order = order | {"sent_at": ledger.clock.now().isoformat()}
    done: list[str] = []
    failures: list[str] = []
    for channel in wanted:
        try:
            if channel == "email":
                assert rules.smtp is not None and email
                email_order(
                    rules.smtp,
                    email,
                    order,
                    buyer=rules.buyer,
                    pdf=order_pdf(order, rules.buyer),
                    csv_text=order_csv(order),
                )
            elif channel == "fhir":
                assert fhir_url
                post_fhir(fhir_url, supply_request_bundle(order, rules.buyer), order["number"])
            done.append(channel)
        except SendError as exc:
            failures.append(str(exc))
    if not done:
        raise SendError("; ".join(failures))
    return ledger.mark_purchase_order_sent(who, order_id, done + [f"failed: {f}" for f in failures])
