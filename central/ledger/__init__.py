"""The ledger: stock per location and batch, kept by applying edge events, receiving,
bookings and stocktakes; read by queries. `Ledger` puts the concerns together:

- `base.py`: engine, session, clock, id caches, the one transaction shape;
- `bulk.py`: many rows per statement, per dialect;
- `moves.py`: a tag changing place (`TagMove`), the only code that does;
- `applying.py`: edge events, idempotent, with the per-gateway acknowledgement;
- `receiving.py`: deliveries from the API, CSV and EPCIS;
- `bookings.py`: bookings, stocktakes, recall locks;
- `booking_approvals.py`: bookings that wait for an approval;
- `scanning.py`: scans resolved, received, moved and counted;
- `requisitions.py`: internal demand, requested and approved;
- `issuing.py`: requisitions picked, issued and received;
- `purchasing.py`: purchase orders, made, approved, sent and confirmed;
- `po_receiving.py`: deliveries against them and the ship notices they match;
- `proposals.py`: min/max and orders proposed from forecasts, decided by a person;
- `queries.py`: stock, traces, histories, the commissioning map.
"""

from __future__ import annotations

from central.ledger.applying import Applying
from central.ledger.base import location_problem
from central.ledger.booking_approvals import BookingApprovals
from central.ledger.bookings import BOOKING_KINDS, BookingError, Bookings
from central.ledger.issuing import Issuing, PickIn
from central.ledger.po_receiving import DeliveredLine, NoticeLineIn, VarianceRefused
from central.ledger.proposals import ProposalEdit, Proposals
from central.ledger.purchasing import OrderLineIn, po_number
from central.ledger.queries import Queries
from central.ledger.receiving import (
    ReceiptError,
    ReceiptLine,
    epcis_receipt,
    new_receipt_number,
    parse_receipt_csv,
)
from central.ledger.requisitions import LineIn
from central.ledger.scanning import (
    ResolvedScan,
    ScanBookingError,
    Scanning,
    ScanPurpose,
    split_codes,
)
from central.vocab import Outcome

__all__ = [
    "BOOKING_KINDS",
    "BookingError",
    "DeliveredLine",
    "Ledger",
    "LineIn",
    "NoticeLineIn",
    "OrderLineIn",
    "Outcome",
    "PickIn",
    "ProposalEdit",
    "ReceiptError",
    "ReceiptLine",
    "ResolvedScan",
    "ScanBookingError",
    "ScanPurpose",
    "VarianceRefused",
    "epcis_receipt",
    "location_problem",
    "new_receipt_number",
    "parse_receipt_csv",
    "po_number",
    "split_codes",
]


class Ledger(Applying, Scanning, Issuing, Proposals, BookingApprovals, Bookings, Queries):
    """The ledger on one database (`Ledger(engine, clock=...)`)."""
