"""Inbox API: parked / pending events, conflicts, replay (CONTRACT §4: events)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate, validates

from app.api.common import account_id, db, list_arg, paginate
from app.errors import ApiError
from app.timeutil import isoformat
from app.webhooks import inbox
from app.webhooks.models import EventConflict, InboxEvent
from app.webhooks.service import DiscardRefused, ReplayRefused, discard_event, replay_event

bp = Blueprint("events_api", __name__, url_prefix="/api")
STATUSES = ("applied", "stale", "ignored", "parked", "pending", "discarded")


def event_json(e: InboxEvent, *, payload: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": e.event_id,
        "account_id": e.account_id,
        "source": e.source,
        "event_type": e.event_type,
        "status": e.status,
        "reason": e.reason,
        "order_id": e.order_id,
        "order_number": e.order_number,
        "occurred_at": isoformat(e.occurred_at),
        "received_at": isoformat(e.received_at),
        "applied_at": isoformat(e.applied_at),
        "attempts": e.attempts,
        "next_attempt_at": isoformat(e.next_attempt_at),
    }
    if e.status == "discarded":
        body["discarded"] = {
            "at": isoformat(e.discarded_at),
            "by": e.discarded_by,
            "reason": e.discard_reason,
        }
    if payload:
        body["payload"] = json.loads(e.payload)
    return body


def conflict_json(c: EventConflict) -> dict[str, Any]:
    return {
        "event_id": c.event_id,
        "account_id": c.account_id,
        "received_at": isoformat(c.received_at),
        "payload": json.loads(c.payload),
    }


@bp.get("/events")
def list_events() -> ResponseReturnValue:
    statuses = list_arg("status", STATUSES)
    acct = request.args.get("account_id") or None
    with db().read() as session:
        return paginate(session, inbox.events_query(acct, statuses), event_json)


@bp.get("/events/<path:event_id>")
def get_event(event_id: str) -> ResponseReturnValue:
    acct = account_id()
    with db().read() as session:
        stored = inbox.get_event(session, acct, event_id)
        if stored is None:
            raise ApiError(f"no event {event_id!r} in account {acct!r}", 404)
        return event_json(stored, payload=True)


@bp.post("/events/<path:event_id>/replay")
def replay(event_id: str) -> ResponseReturnValue:
    acct = account_id()
    try:
        result = replay_event(db(), acct, event_id)
    except LookupError as missing:
        raise ApiError(str(missing), 404) from None
    except ReplayRefused as refused:
        raise ApiError(str(refused), 409) from None
    with db().read() as session:
        stored = inbox.get_event(session, acct, event_id)
        assert stored is not None
        return event_json(stored) | {"outcome": result.status}


class DiscardRequest(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))

    @validates("reason")
    def _not_blank(self, value: str, **_: Any) -> None:
        if not value.strip():
            raise ValidationError("must not be blank")


def api_actor() -> str:
    """Who called the API: the bearer token, named by a short hash (never the token)."""
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    return f"api token {hashlib.sha256(token.encode()).hexdigest()[:8]}"


@bp.post("/events/<path:event_id>/discard")
def discard(event_id: str) -> ResponseReturnValue:
    from app.api.common import json_body

    acct = account_id()
    body = DiscardRequest().load(json_body())
    try:
        stored = discard_event(
            db(), acct, event_id, reason=body["reason"].strip(), actor=api_actor()
        )
    except LookupError as missing:
        raise ApiError(str(missing), 404) from None
    except DiscardRefused as refused:
        raise ApiError(str(refused), 409) from None
    return event_json(stored)


@bp.get("/event-conflicts")
def list_conflicts() -> ResponseReturnValue:
    acct = request.args.get("account_id") or None
    with db().read() as session:
        return paginate(session, inbox.conflicts_query(acct), conflict_json)
