"""Products: tracking mode, picking strategy, bundle kind and components."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.ledger import repository as repo
from app.ledger.domain import BUNDLE_KINDS, STRATEGIES, TRACKING_MODES, LedgerError
from app.ledger.models import Product
from app.ledger.receiving import Conflict, NotFound
from app.timeutil import isoformat, utcnow

_UNSET: Any = object()


def save_product(
    session: Session,
    sku: str,
    *,
    create: bool,
    name: str | None = _UNSET,
    tracking: str = _UNSET,
    strategy: str | None = _UNSET,
    bundle: str = _UNSET,
    components: Sequence[tuple[str, int]] | None = _UNSET,
) -> tuple[Product, bool]:
    """Update a product; create=True also creates it (SKUs seen on orders already exist)."""
    product = repo.products_by_sku(session, [sku]).get(sku)
    created = product is None
    if product is None:
        if not create:
            raise NotFound(f"unknown SKU {sku!r}")
        repo.ensure_products(session, [sku])
        product = repo.products_by_sku(session, [sku])[sku]
    if tracking is not _UNSET:
        if tracking not in TRACKING_MODES:
            raise LedgerError(f"tracking must be one of {', '.join(TRACKING_MODES)}", "tracking")
        if tracking != product.tracking and repo.has_stock(session, sku):
            raise Conflict(
                f"{sku} has stock on hand; tracking can't change from {product.tracking} "
                f"to {tracking} until it is zero"
            )
        product.tracking = tracking
    if strategy is not _UNSET:
        if strategy is not None and strategy not in STRATEGIES:
            raise LedgerError(f"strategy must be one of {', '.join(STRATEGIES)}", "strategy")
        product.strategy = strategy
    if name is not _UNSET:
        product.name = name
    if bundle is not _UNSET:
        if bundle not in BUNDLE_KINDS:
            raise LedgerError(f"bundle must be one of {', '.join(BUNDLE_KINDS)}", "bundle")
        product.bundle = bundle
    if components is not _UNSET and components is not None:
        _set_components(session, product, components)
    if product.bundle == "exploding" and not repo.components_of(session, [sku]):
        raise LedgerError("an exploding bundle needs components", "components")
    if product.bundle == "none" and repo.components_of(session, [sku]):
        repo.replace_components(session, sku, [])
    product.updated_at = utcnow()
    repo.flush(session)
    return product, created


def _set_components(session: Session, product: Product, parts: Sequence[tuple[str, int]]) -> None:
    skus = [c for c, _ in parts]
    if len(set(skus)) != len(skus):
        raise LedgerError("each component may appear once", "components")
    if product.sku in skus:
        raise LedgerError("a bundle can't contain itself", "components")
    if any(q <= 0 for _, q in parts):
        raise LedgerError("component quantities must be positive", "components")
    if parts and product.bundle == "none":
        raise LedgerError("components need bundle exploding or require_stock", "bundle")
    repo.ensure_products(session, skus)
    nested = [s for s, p in repo.products_by_sku(session, skus).items() if p.bundle != "none"]
    if nested:
        raise LedgerError(f"components can't be bundles: {', '.join(sorted(nested))}", "components")
    repo.replace_components(session, product.sku, sorted(parts))


def product_json(
    session: Session, product: Product, parts: dict[str, int] | None = None
) -> dict[str, Any]:
    if parts is None:
        parts = repo.components_of(session, [product.sku]).get(product.sku, {})
    return {
        "sku": product.sku,
        "name": product.name,
        "tracking": product.tracking,
        "strategy": product.strategy,
        "bundle": product.bundle,
        "components": [{"sku": s, "quantity": q} for s, q in sorted(parts.items())],
        "created_at": isoformat(product.created_at),
        "updated_at": isoformat(product.updated_at),
    }


def products_query(skus: Sequence[str]) -> sa.Select:
    stmt = sa.select(Product).order_by(Product.sku)
    if skus:
        stmt = stmt.where(Product.sku.in_(skus))
    return stmt
