"""Inbox API: parked / pending events, conflicts, replay (CONTRACT §4: events)."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from app.api.bodies import ConflictPage, EventBody, EventPage
from app.api.common import AccountFilterPageQuery, AccountQuery, db, one_of, paginate
from app.api.openapi import operation
from app.errors import ApiError
from app.schemas import Strict, Text
from app.webhooks import queries
from app.webhooks.service import DiscardRefused, ReplayRefused, discard_event, replay_event

bp = Blueprint("events_api", __name__, url_prefix="/api")
STATUSES = queries.STATUSES


class EventsQuery(AccountFilterPageQuery):
    status = one_of(STATUSES)


@bp.get("/events")
@operation(
    "Inbox events (parked, pending, applied...)", query=EventsQuery, responses={200: EventPage}
)
def list_events(query: dict[str, Any]) -> ResponseReturnValue:
    stmt = queries.events_query(query["account_id"], query["status"])
    with db().read() as session:
        return paginate(session, stmt, query, queries.event_json)


@bp.get("/events/<path:event_id>")
@operation(
    "One event with its stored payload",
    query=AccountQuery,
    responses={200: EventBody},
    errors=(404,),
)
def get_event(event_id: str, query: dict[str, Any]) -> ResponseReturnValue:
    acct = query["account_id"]
    with db().read() as session:
        stored = queries.find_event(session, acct, event_id)
        if stored is None:
            raise ApiError(f"no event {event_id!r} in account {acct!r}", 404)
        return queries.event_json(stored, payload=True)


@bp.post("/events/<path:event_id>/replay")
@operation(
    "Apply a parked or pending event again",
    query=AccountQuery,
    body=Strict,
    body_optional=True,
    responses={200: EventBody},
    errors=(404, 409),
)
def replay(event_id: str, query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    acct = query["account_id"]
    try:
        result = replay_event(db(), acct, event_id)
    except LookupError as missing:
        raise ApiError(str(missing), 404) from None
    except ReplayRefused as refused:
        raise ApiError(str(refused), 409) from None
    with db().read() as session:
        stored = queries.find_event(session, acct, event_id)
        assert stored is not None
        return queries.event_json(stored) | {"outcome": result.status}


class DiscardRequest(Strict):
    reason = Text(required=True, free_text=True, blank=False, max=2000)


def api_actor() -> str:
    """Who called the API: the bearer token, named by a short hash (never the token)."""
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    return f"api token {hashlib.sha256(token.encode()).hexdigest()[:8]}"


@bp.post("/events/<path:event_id>/discard")
@operation(
    "Retire a parked event for good (kept, marked discarded, with who and why)",
    query=AccountQuery,
    body=DiscardRequest,
    responses={200: EventBody},
    errors=(404, 409),
)
def discard(event_id: str, query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    try:
        stored = discard_event(
            db(), query["account_id"], event_id, reason=body["reason"].strip(), actor=api_actor()
        )
    except LookupError as missing:
        raise ApiError(str(missing), 404) from None
    except DiscardRefused as refused:
        raise ApiError(str(refused), 409) from None
    return queries.event_json(stored)


@bp.get("/event-conflicts")
@operation(
    "Redeliveries with a different body, kept for review",
    query=AccountFilterPageQuery,
    responses={200: ConflictPage},
)
def list_conflicts(query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:
        return paginate(
            session, queries.conflicts_query(query["account_id"]), query, queries.conflict_json
        )
