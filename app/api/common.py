"""What every API blueprint shares: the request edge (query, body and path checked by
schemas, CONTRACT §2 input rules and §4 query rules), pagination and the context."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from flask import current_app, g, request
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from app.api.uploads import read_body
from app.db import Database
from app.errors import ApiError
from app.inputrules import INT32, INT64, int_problem, load_json, text_problem
from app.schemas import Strict, Text, column_length
from app.webhooks.models import InboxEvent

MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 50


def db() -> Database:
    database: Database = current_app.extensions["stockmirror"].db
    return database


def settings() -> Any:
    return current_app.extensions["stockmirror"].settings


def actor() -> str:
    return str(g.get("actor", "api"))


# --- query-string fields ----------------------------------------------------------------


class CommaList(fields.List):
    """`?status=A,B` (or `?status=A&status=B`): a list of strings, each checked."""

    def __init__(self, inner: fields.Field | None = None, **kwargs: Any) -> None:
        super().__init__(inner or Text(), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as error:  # name the parameter, not its n-th value
            messages = error.messages.values() if isinstance(error.messages, dict) else []
            raise ValidationError([str(m) for ms in messages for m in ms] or ["invalid"]) from None


def one_of(choices: Sequence[str]) -> CommaList:
    return CommaList(Text(validate=validate.OneOf(choices)), load_default=list)


class Flag(fields.Boolean):
    truthy = {"true", "1", "yes"}
    falsy = {"false", "0", "no"}


def query_int(bounds: tuple[int, int] = INT64, **kwargs: Any) -> fields.Integer:
    low, high = bounds
    low = max(low, kwargs.pop("minimum", low))
    high = min(high, kwargs.pop("maximum", high))
    return fields.Integer(validate=validate.Range(min=low, max=high), **kwargs)


class Query(Strict):
    """Query-string schemas: every parameter named, each checked (unknown → 422)."""


class AccountQuery(Query):
    account_id = Text(InboxEvent.account_id, load_default="default")


class PageQuery(Query):
    page = query_int(INT32, minimum=1, load_default=1)
    per_page = query_int(minimum=1, maximum=MAX_PER_PAGE, load_default=DEFAULT_PER_PAGE)


class AccountPageQuery(AccountQuery, PageQuery):
    pass


class AccountFilterPageQuery(PageQuery):
    """`?account_id=` as an optional filter (every account when absent)."""

    account_id = Text(InboxEvent.account_id, load_default=None)


class EmptyQuery(Query):
    pass


def load_query(schema: Schema) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name in request.args:
        values = request.args.getlist(name)
        raw[name] = ",".join(values) if len(values) > 1 else values[0]
    for name, value in raw.items():
        problem = text_problem(name) or text_problem(value, blank=True)
        if problem:
            raise ValidationError({name: [problem]})
    loaded: dict[str, Any] = schema.load(raw)
    return loaded


def load_body(schema: Schema, *, optional: bool = False) -> dict[str, Any]:
    """The JSON object body loaded by `schema`. With `optional`, an empty body (with or
    without a JSON content type, as `curl -X POST` sends it) is an empty object."""
    raw = read_body()
    if optional and not raw.strip():
        document: Any = {}
    else:
        if not request.is_json:
            raise ApiError("content type must be application/json", 415)
        try:
            document = load_json(raw)
        except ValueError as error:
            raise ApiError(f"body is not valid JSON: {error}", 400) from None
    if not isinstance(document, dict):
        raise ApiError("body must be a JSON object", 422, fields={"_schema": ["must be an object"]})
    loaded: dict[str, Any] = schema.load(document)
    return loaded


# --- path segments ----------------------------------------------------------------------


def check_path(values: dict[str, Any]) -> None:
    """Path segments follow the input rules: ids fit int64, text is clean and not blank."""
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        if isinstance(value, int):
            problem = int_problem(value, INT64)
        else:
            problem = text_problem(str(value), blank=False)
        if problem:
            errors[name] = [problem]
    if errors:
        raise ValidationError(errors)


def checked_length(name: str, value: str, column: Any) -> str:
    """A path segment that names a stored string: within its column's length."""
    longest = column_length(column)
    if len(value) > longest:
        raise ValidationError({name: [f"longer than {longest} characters"]})
    return value


# --- pagination -------------------------------------------------------------------------


def paginate(
    session: Session,
    stmt: sa.Select,
    query: dict[str, Any],
    serialize: Callable[[Any], dict[str, Any]] = dict,
    *,
    scalars: bool = True,
    serialize_page: Callable[[list[Any]], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """One page of `stmt` with `query`'s page and per_page (PageQuery)."""
    page, per_page = query["page"], query["per_page"]
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    page_stmt = stmt.limit(per_page).offset((page - 1) * per_page)
    result = session.scalars(page_stmt) if scalars else session.execute(page_stmt)
    rows = list(result)
    items = serialize_page(rows) if serialize_page else [serialize(r) for r in rows]
    return {"items": items, "page": page, "per_page": per_page, "total": total or 0}
