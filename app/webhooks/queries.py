"""Read-model queries of the inbox (events, conflicts), named for the API and console."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.timeutil import isoformat
from app.webhooks import inbox
from app.webhooks.models import EventConflict, InboxEvent

STATUSES = ("applied", "stale", "ignored", "parked", "pending", "discarded")


def events_query(account_id: str | None, statuses: Sequence[str]) -> sa.Select:
    return inbox.events_query(account_id, statuses)


def conflicts_query(account_id: str | None) -> sa.Select:
    return inbox.conflicts_query(account_id)


def find_event(session: Session, account_id: str, event_id: str) -> InboxEvent | None:
    return inbox.get_event(session, account_id, event_id)


def stored_payload(payload: str) -> Any:
    """A stored body as JSON again (a body stored before NaN was refused reads as null)."""
    try:
        return json.loads(payload, parse_constant=lambda _: None)
    except ValueError:
        return payload


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
        body["payload"] = stored_payload(e.payload)
    return body


def conflict_json(c: EventConflict) -> dict[str, Any]:
    return {
        "event_id": c.event_id,
        "account_id": c.account_id,
        "received_at": isoformat(c.received_at),
        "payload": stored_payload(c.payload),
    }
