"""POST /webhooks/starshipit/orders — verify, parse, validate, store, apply (CONTRACT §2)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from app.api.bodies import WebhookAnswer
from app.api.openapi import operation
from app.api.uploads import read_body
from app.errors import ApiError
from app.inputrules import load_json, lone_surrogates, may_hold_lone_surrogate
from app.observability.http import note_webhook
from app.webhooks.schemas import EnvelopeSchema
from app.webhooks.service import receive_order_event
from app.webhooks.signature import verifying_account

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks/starshipit")
SIGNATURE_HEADER = "X-Starshipit-Signature"
WEBHOOK_DOC: dict[str, Any] = {
    "validate": False,
    "errors": (400, 401, 413, 415, 422, 503),
    "security": [],
    "parameters": [
        {
            "in": "header",
            "name": SIGNATURE_HEADER,
            "required": True,
            "description": "lowercase hex HMAC-SHA256 of the raw body, keyed by a secret",
            "schema": {"type": "string"},
        }
    ],
    "responses": {200: WebhookAnswer},
}


def read_signed_json() -> tuple[Any, bytes, str]:
    """The checks every Starshipit webhook shares, in the order the contract implies;
    returns the document, the raw body and the account whose secret signed it."""
    settings = current_app.extensions["stockmirror"].settings
    accounts = [(a.id, a.webhook_secrets) for a in settings.accounts if a.webhook_secrets]
    if not accounts:
        raise ApiError("webhook secret not configured", 503)
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(f"content type must be application/json, not {mimetype or 'missing'!r}", 415)
    raw = read_body()
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise ApiError(f"missing {SIGNATURE_HEADER} header", 401)
    account = verifying_account(accounts, raw, signature) if signature.isascii() else None
    if account is None:
        raise ApiError(f"{SIGNATURE_HEADER} does not match the body", 401)
    try:
        document = load_json(raw)
    except ValueError as error:
        raise ApiError(f"body is not valid JSON: {error}", 400) from None
    if may_hold_lone_surrogate(raw):
        where = sorted(lone_surrogates(document))
        if where:
            raise ValidationError(
                {name: ["must not contain a lone UTF-16 surrogate"] for name in where}
            )
    note_webhook(document)
    return document, raw, account


@bp.post("/orders")
@operation("Starshipit order event (signed)", body=EnvelopeSchema, **WEBHOOK_DOC)
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
