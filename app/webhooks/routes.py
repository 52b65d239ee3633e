"""POST /webhooks/starshipit/orders — verify, parse, validate, store, apply (CONTRACT §2)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue

from app.errors import ApiError
from app.observability.http import note_webhook
from app.webhooks.service import receive_order_event
from app.webhooks.signature import verify

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks/starshipit")
SIGNATURE_HEADER = "X-Starshipit-Signature"


def read_signed_json() -> tuple[Any, bytes]:
    """The checks every Starshipit webhook shares, in the order the contract implies."""
    settings = current_app.extensions["stockmirror"].settings
    if not settings.webhook_secrets:
        raise ApiError("webhook secret not configured", 503)
    limit = settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError("request body is larger than 1 MiB", 413)
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(f"content type must be application/json, not {mimetype or 'missing'!r}", 415)
    raw = request.get_data(cache=False)
    if len(raw) > limit:
        raise ApiError("request body is larger than 1 MiB", 413)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise ApiError(f"missing {SIGNATURE_HEADER} header", 401)
    if not verify(settings.webhook_secrets, raw, signature):
        raise ApiError(f"{SIGNATURE_HEADER} does not match the body", 401)
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError(f"body is not valid JSON: {error}", 400) from None
    note_webhook(document)
    return document, raw


@bp.post("/orders")
def order_events() -> ResponseReturnValue:
    document, raw = read_signed_json()
    received = receive_order_event(current_app.extensions["stockmirror"].db, document, raw)
    body: dict[str, Any] = {"status": received.status, "event_id": received.event_id}
    if received.reason:
        body["reason"] = received.reason
    return body, 200
