"""Signed checkpoints of the chain heads: the ledger signs each chain's head with its
Ed25519 key (from the service's credentials) when the chain has grown, keeps the checkpoint
and publishes it (retained MQTT), so that a copy lives outside the database."""

from __future__ import annotations

import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.models import AuditCheckpoint, AuditHead
from rules.audit_chain import Checkpoint, at_text


class SigningKeyError(ValueError):
    """The signing key cannot be read."""


def load_key(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"audit signing key: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError("audit signing key: not an Ed25519 key")
    return key


def public_hex(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def new_key(path: Path) -> Ed25519PrivateKey:
    """A new signing key, written to `path` readable by its owner only."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def sign(key: Ed25519PrivateKey, chain: str, seq: int, head: str, at: datetime) -> Checkpoint:
    unsigned = Checkpoint(chain, seq, head, at_text(at), public_hex(key), "0" * 128)
    signature = key.sign(unsigned.payload()).hex()
    return Checkpoint(chain, seq, head, unsigned.at, unsigned.public_key, signature)


def make_checkpoints(s: Session, key: Ed25519PrivateKey, now: datetime) -> list[Checkpoint]:
    """A checkpoint of every chain that grew since its last one."""
    q = select(AuditCheckpoint.chain, func.max(AuditCheckpoint.seq)).group_by(AuditCheckpoint.chain)
    signed_upto: dict[str, int] = dict(s.execute(q).all())
    made: list[Checkpoint] = []
    for chain, seq, head in s.execute(select(AuditHead.chain, AuditHead.seq, AuditHead.hash)):
        if seq <= signed_upto.get(chain, 0):
            continue
        cp = sign(key, chain, seq, head, now)
        s.add(AuditCheckpoint(**asdict(cp)))
        made.append(cp)
    return made


def latest(s: Session, chain: str | None = None) -> list[Checkpoint]:
    """The last checkpoint of each chain (or of one)."""
    last = select(AuditCheckpoint.chain, func.max(AuditCheckpoint.id).label("id")).group_by(
        AuditCheckpoint.chain
    )
    if chain is not None:
        last = last.where(AuditCheckpoint.chain == chain)
    ids = [row.id for row in s.execute(last)]
    rows = s.scalars(
        select(AuditCheckpoint).where(AuditCheckpoint.id.in_(ids)).order_by(AuditCheckpoint.chain)
    )
    return [Checkpoint(r.chain, r.seq, r.hash, r.at, r.public_key, r.signature) for r in rows]
