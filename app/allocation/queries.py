"""Read-model queries of allocation (orders with their allocations, pick lists, rules),
named for the API and the console."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.allocation import repository as repo
from app.allocation.views import decorate_detail, picklist, summaries_with_shortages
from app.orders.models import Order
from app.orders.queries import find_order, order_body
from app.timeutil import isoformat


def with_allocatable(stmt: sa.Select, allocatable: bool | None) -> sa.Select:
    """Narrow an orders query to orders that could (or could not) be allocated now."""
    return stmt if allocatable is None else stmt.where(repo.allocatable_clause(allocatable))


def order_summaries(session: Session, orders: Sequence[Order]) -> list[dict[str, Any]]:
    """Summaries of a page of orders, each with its insufficient-inventory flag."""
    return summaries_with_shortages(session, orders)


def order_with_allocations(
    session: Session, account_id: str, order_id: int
) -> dict[str, Any] | None:
    """An order's full body with its live allocations; None when it is not mirrored."""
    order = find_order(session, account_id, order_id)
    if order is None:
        return None
    return decorate_detail(session, order, order_body(session, order))


def order_picklist(session: Session, account_id: str, order_id: int) -> dict[str, Any] | None:
    order = find_order(session, account_id, order_id)
    if order is None:
        return None
    return {
        "order_id": order.order_id,
        "order_number": order.order_number,
        "status": order.status,
        "allocation_status": order.allocation_status,
        "lines": picklist(repo.pick_rows(session, order_pk=order.id)),
    }


def release_picklist(session: Session, account_id: str, release_id: int) -> dict[str, Any] | None:
    release = repo.get_release(session, release_id)
    if release is None or release.account_id != account_id:
        return None
    return {
        "release_id": release.id,
        "created_at": isoformat(release.created_at),
        "orders_released": release.released,
        "lines": picklist(repo.pick_rows(session, release_id=release.id)),
    }


def rule_json(rule: Any, source: str) -> dict[str, Any]:
    return {
        "id": rule.id,
        "source": source,
        "name": rule.name,
        "account_id": rule.account_id,
        "platform": rule.platform,
        "country": rule.country,
        "allow_partial": rule.allow_partial,
        "enabled": rule.enabled,
    }


def stored_rules(session: Session) -> list[dict[str, Any]]:
    return [rule_json(r, "api") for r in repo.rules(session)]
