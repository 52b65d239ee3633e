"""POST /webhooks/starshipit/orders — verify, parse, validate, store, apply (CONTRACT §2)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue

from app.errors import ApiError
from app.webhooks.service import receive_order_event
from app.webhooks.signature import verifying_account

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks/starshipit")
SIGNATURE_HEADER = "X-Starshipit-Signature"


def read_signed_json() -> tuple[Any, bytes, str]:
    """The checks every Starshipit webhook shares, in the order the contract implies;
    returns the document, the raw body and the account whose secret signed it."""
    settings = current_app.extensions["stockmirror"].settings
    accounts = [(a.id, a.webhook_secrets) for a in settings.accounts if a.webhook_secrets]
    if not accounts:
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
    account = verifying_account(accounts, raw, signature)
    if account is None:
        raise ApiError(f"{SIGNATURE_HEADER} does not match the body", 401)
    try:
        return json.loads(raw.decode("utf-8")), raw, account
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError(f"body is not valid JSON: {error}", 400) from None


@bp.post("/orders")
def order_events() -> ResponseReturnValue:
    document, raw, account = read_signed_json()
    ctx = current_app.extensions["stockmirror"]
    # With STOCKMIRROR_ACCOUNTS the signing secret names the account; without it the
    # envelope's account_id (default "default") does, as it always has.
    pin = account if ctx.settings.multi_account else None
    received = receive_order_event(ctx.db, document, raw, account_id=pin)
    body: dict[str, Any] = {"status": received.status, "event_id": received.event_id}
    if received.reason:
        body["reason"] = received.reason
    return body, 200
