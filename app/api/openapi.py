"""The request edge of every /api operation and the OpenAPI document built from it.

`@operation(...)` declares what an operation takes (query, body) and answers; the same
marshmallow schemas validate the request (the view gets `query=` and `body=`) and are
turned into OpenAPI 3.1 by apispec's marshmallow plugin (CONTRACT §7).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app
from flask.typing import ResponseReturnValue
from marshmallow import EXCLUDE, Schema, fields

from app.api.common import EmptyQuery, check_path, load_body, load_query
from app.auth import OPENAPI_PATH
from app.schemas import Time

bp = Blueprint("openapi", __name__)


class Out(Schema):
    """Response schemas document what is answered (more fields may be added)."""

    class Meta:
        unknown = EXCLUDE


class ErrorBody(Out):
    error = fields.String(required=True)
    fields_ = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()), data_key="fields"
    )


class Anything(Out):
    pass


REASONS = {
    200: "OK",
    201: "created",
    202: "accepted: running",
    204: "deleted",
    400: "body is not JSON",
    401: "missing or invalid credentials",
    404: "not found",
    409: "conflict with the current state",
    413: "body over 1 MiB",
    415: "content type is not JSON",
    422: "invalid input (`fields` names each problem)",
    503: "storage or a dependency unavailable; retry later",
}


@dataclass
class Operation:
    summary: str
    query: type[Schema]
    body: type[Schema] | None
    body_optional: bool
    responses: dict[int, type[Schema] | str | None]
    errors: tuple[int, ...]
    media: str = "application/json"
    extra: dict[str, Any] = field(default_factory=dict)


def operation(
    summary: str,
    *,
    query: type[Schema] = EmptyQuery,
    body: type[Schema] | None = None,
    body_optional: bool = False,
    responses: dict[int, type[Schema] | str | None] | None = None,
    errors: Iterable[int] = (),
    validate: bool = True,
    media: str = "application/json",
    **extra: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare (and, with `validate`, enforce) an operation's query, body and answers.
    A response given as a string is a media type (e.g. "text/csv")."""
    doc = Operation(
        summary,
        query,
        body,
        body_optional,
        responses or {200: Anything},
        tuple(errors),
        media,
        extra,
    )

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        if validate:

            @functools.wraps(view)
            def inner(*args: Any, **kwargs: Any) -> Any:
                check_path(kwargs)
                kwargs["query"] = load_query(query())
                if body is not None:
                    kwargs["body"] = load_body(body(), optional=body_optional)
                return view(*args, **kwargs)

            inner._openapi = doc  # type: ignore[attr-defined]
            return inner
        view._openapi = doc  # type: ignore[attr-defined]
        return view

    return wrap


# --- the document -----------------------------------------------------------------------

_RULE_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_PATH_SCHEMAS = {
    "int": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1, "format": "int64"},
}


def _path_parameters(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for converter, name in _RULE_ARG.findall(rule):
        schema = _PATH_SCHEMAS.get(converter, {"type": "string", "minLength": 1})
        params.append({"in": "path", "name": name, "required": True, "schema": schema})
    return _RULE_ARG.sub(lambda m: "{" + m.group(2) + "}", rule), params


def _responses(doc: Operation, plugin: MarshmallowPlugin) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status, schema in doc.responses.items():
        answer: dict[str, Any] = {"description": REASONS.get(status, "OK")}
        if isinstance(schema, str):
            answer["content"] = {schema: {"schema": {"type": "string"}}}
        elif schema is not None:
            answer["content"] = {doc.media: {"schema": schema}}
        answers[str(status)] = answer
    errors = {401, 422, 503, *doc.errors}
    if doc.body is not None:
        errors |= {400, 413, 415}
    for status in sorted(errors):
        answers.setdefault(
            str(status),
            {
                "description": REASONS.get(status, "error"),
                "content": {"application/json": {"schema": ErrorBody}},
            },
        )
    return answers


def _operation(doc: Operation, path_params: list[dict[str, Any]], plugin: Any) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": doc.summary,
        "parameters": path_params
        + plugin.converter.schema2parameters(doc.query(), location="query"),
        "responses": _responses(doc, plugin),
    }
    if doc.body is not None:
        op["requestBody"] = {
            "required": not doc.body_optional,
            "content": {"application/json": {"schema": doc.body}},
        }
    op.update(doc.extra)
    return op


def build_spec(app: Flask) -> dict[str, Any]:
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="stockmirror",
        version="1",
        openapi_version="3.1.0",
        plugins=[plugin],
        info={"description": "Inventory mirror beside Starshipit: operations API and webhooks."},
    )
    plugin.map_to_openapi_type(Time, "string", "date-time")
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        doc = getattr(app.view_functions.get(rule.endpoint), "_openapi", None)
        if doc is None:
            continue
        path, params = _path_parameters(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(doc, params, plugin)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    document["security"] = [{"bearer": []}]
    return document


@bp.get(OPENAPI_PATH)
@operation("This OpenAPI document (no token needed)", security=[], errors=())
def openapi_document(query: dict[str, Any]) -> ResponseReturnValue:
    cached = current_app.extensions.get("stockmirror_openapi")
    if cached is None:
        cached = current_app.extensions["stockmirror_openapi"] = build_spec(current_app)
    return cached
