"""Read-model queries of the stock ledger, named for the API and the console."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.ledger import repository as repo
from app.ledger.models import Product
from app.ledger.service import stock_views


def stock_query(skus: Sequence[str] = (), *, negative_only: bool = False) -> sa.Select:
    """SKUs with their total on hand and allocated, by SKU (a page feeds stock_page)."""
    stmt = repo.stock_totals_query(negative_only=negative_only)
    if skus:
        stmt = stmt.where(Product.sku.in_(skus))
    return stmt.order_by(Product.sku)


def stock_page(session: Session, rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [v.to_dict() for v in stock_views(session, [r.sku for r in rows])]


def movements_query(
    *,
    sku: str | None = None,
    order_id: int | None = None,
    types: Sequence[str] = (),
    account_id: str | None = None,
    location: str | None = None,
) -> sa.Select:
    """Movements, newest first, narrowed by every filter given."""
    return repo.movements_query(
        sku=sku, order_id=order_id, types=types, account_id=account_id, location=location
    )


def locations_query(kinds: Sequence[str]) -> sa.Select:
    return repo.locations_query(kinds)


def expected_receipts_query(statuses: Sequence[str]) -> sa.Select:
    return repo.expected_receipts_query(statuses)


def expected_lines_by_receipt(session: Session, receipt_ids: Sequence[int]) -> dict[int, list[Any]]:
    lines: dict[int, list[Any]] = {}
    for line in repo.expected_lines(session, receipt_ids):
        lines.setdefault(line.receipt_id, []).append(line)
    return lines


def expected_receipt(session: Session, reference: str) -> Any:
    return repo.expected_receipt(session, reference)


def product(session: Session, sku: str) -> Product | None:
    return repo.products_by_sku(session, [sku]).get(sku)


def components_of(session: Session, bundle_skus: Sequence[str]) -> dict[str, dict[str, int]]:
    return repo.components_of(session, bundle_skus)
