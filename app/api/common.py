"""Helpers every API blueprint shares: context, pagination, query parsing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from flask import current_app, request
from sqlalchemy.orm import Session

from app.db import Database
from app.errors import ApiError

MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 50


def db() -> Database:
    database: Database = current_app.extensions["stockmirror"].db
    return database


def account_id() -> str:
    value = request.args.get("account_id", "default").strip()
    if not value or len(value) > 100:
        raise ApiError(
            "account_id must be 1..100 characters", 422, fields={"account_id": ["invalid"]}
        )
    return value


def int_arg(name: str, default: int | None = None, minimum: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            f"{name} must be an integer", 422, fields={name: ["must be an integer"]}
        ) from None
    if minimum is not None and value < minimum:
        raise ApiError(
            f"{name} must be at least {minimum}", 422, fields={name: [f"must be ≥ {minimum}"]}
        )
    return value


def list_arg(name: str, allowed: Sequence[str] | None = None) -> list[str]:
    raw = request.args.get(name, "")
    values = [v.strip() for v in raw.split(",") if v.strip()]
    if allowed is not None:
        wrong = [v for v in values if v not in allowed]
        if wrong:
            raise ApiError(
                f"{name} has unknown value(s) {', '.join(wrong)}; allowed: {', '.join(allowed)}",
                422,
                fields={name: [f"unknown value {w!r}" for w in wrong]},
            )
    return values


def bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ApiError(f"{name} must be true or false", 422, fields={name: ["must be true or false"]})


def paginate(
    session: Session,
    stmt: sa.Select,
    serialize: Callable[[Any], dict[str, Any]],
    *,
    scalars: bool = True,
    serialize_page: Callable[[list[Any]], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    page = int_arg("page", 1, minimum=1) or 1
    per_page = int_arg("per_page", DEFAULT_PER_PAGE, minimum=1) or DEFAULT_PER_PAGE
    if per_page > MAX_PER_PAGE:
        raise ApiError(
            f"per_page must be at most {MAX_PER_PAGE}", 422, fields={"per_page": ["too large"]}
        )
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    page_stmt = stmt.limit(per_page).offset((page - 1) * per_page)
    result = session.scalars(page_stmt) if scalars else session.execute(page_stmt)
    rows = list(result)
    items = serialize_page(rows) if serialize_page else [serialize(r) for r in rows]
    return {"items": items, "page": page, "per_page": per_page, "total": total or 0}


def json_body() -> dict[str, Any]:
    if not request.is_json:
        raise ApiError("content type must be application/json", 415)
    data = request.get_json(silent=True)
    if data is None and request.get_data():
        raise ApiError("body is not valid JSON", 400)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ApiError("body must be a JSON object", 422, fields={"_schema": ["must be an object"]})
    return data
