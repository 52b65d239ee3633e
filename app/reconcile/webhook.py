"""POST /webhooks/starshipit/tracking (CONTRACT §3): same checks and codes as §2."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue

from app.api.openapi import operation
from app.reconcile.client import client_from_settings
from app.reconcile.tracking import TrackingSchema, receive_tracking
from app.webhooks.routes import WEBHOOK_DOC, read_signed_json

bp = Blueprint("tracking_webhook", __name__, url_prefix="/webhooks/starshipit")

# Internal `pending` (Starshipit unreachable, retried automatically) is answered as the
# contract's `parked`: stored, not applied yet, reason kept, visible and replayable.
ANSWER = {"pending": "parked"}


@bp.post("/tracking")
@operation("Starshipit tracking notification (signed)", body=TrackingSchema, **WEBHOOK_DOC)
def tracking_event() -> ResponseReturnValue:
    # The account is the one whose secret signed the body; nothing else selects it.
    document, raw, acct = read_signed_json()
    ctx = current_app.extensions["stockmirror"]
    outcome = receive_tracking(
        ctx.db,
        # One attempt in the request; the scheduler's retry job backs off from there.
        lambda: client_from_settings(ctx.settings, acct, max_retries=0),
        document,
        raw,
        account_id=acct,
        max_attempts=ctx.settings.tracking_max_attempts,
    )
    body: dict[str, Any] = {
        "status": ANSWER.get(outcome.status, outcome.status),
        "event_id": outcome.event_id,
    }
    if outcome.reason:
        body["reason"] = outcome.reason
    return body, 200
