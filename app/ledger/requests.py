"""Keyed requests: a client reference makes an operation idempotent (TigerBeetle-style).

The same reference with the same content answers the original movements; with other
content it is a conflict, reported and never merged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.ledger import repository as repo
from app.ledger.domain import request_fingerprint
from app.ledger.models import StockMovement
from app.ledger.service import MovementConflict


def fingerprint(content: dict[str, Any]) -> str:
    return request_fingerprint(content)


def replayed(
    session: Session, reference: str, key_prefix: str, digest: str
) -> list[StockMovement] | None:
    """The movements of an earlier identical request, None if the reference is new."""
    existing = repo.movements_of_request(session, reference, key_prefix)
    if not existing:
        return None
    if existing[0].request_sha256 != digest:
        repo.detach(session, existing[0])  # the rollback must not expire what we report
        raise MovementConflict(reference, existing[0])
    return existing
