"""Per request: an X-Request-ID, one log line, the duration histogram; webhooks add their
outcome (log fields and stockmirror_webhook_events_total). Also GET /metrics and ProxyFix."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import Settings
from app.observability import metrics
from app.observability.logs import configure_logging, secrets_of

log = logging.getLogger("app.access")
bp = Blueprint("metrics", __name__)

REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID = 128
MAX_PATH = 1000
MAX_FIELD = 200
MAX_REASON = 500
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
WEBHOOK_PREFIX = "/webhooks/"
ANSWERED = frozenset(metrics.WEBHOOK_OUTCOMES) - {"rejected", "unavailable", "error"}


def install(app: Flask, settings: Settings) -> None:
    """Call before any other before_request hook is registered (the id comes first)."""
    configure_logging(settings.log_format, secrets_of(settings))
    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
    app.before_request(_start)
    app.after_request(_finish)
    app.register_blueprint(bp)


def valid_request_id(value: str | None) -> bool:
    """1..128 printable ASCII characters (anything else is replaced, never echoed)."""
    return (
        bool(value)
        and len(value or "") <= MAX_REQUEST_ID
        and all(" " <= c <= "~" for c in value or "")
    )


def _start() -> None:
    g.started = time.perf_counter()
    given = request.headers.get(REQUEST_ID_HEADER)
    g.request_id = given if given is not None and valid_request_id(given) else uuid.uuid4().hex


def note_webhook(document: Any) -> None:
    """The webhook route parsed a signed body: its ids go on the request's log line."""
    g.webhook_document = document if isinstance(document, dict) else {}


def _finish(response: Response) -> Response:
    if "request_id" not in g:
        _start()  # a hook registered before ours answered first
    response.headers[REQUEST_ID_HEADER] = g.request_id
    elapsed = time.perf_counter() - g.started
    rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
    method = request.method if request.method in METHODS else "OTHER"
    status = response.status_code
    metrics.HTTP_DURATION.labels(route=rule, method=method, status=str(status)).observe(elapsed)
    fields: dict[str, Any] = {
        "request_id": g.request_id,
        "method": method,
        "path": request.path[:MAX_PATH],
        "route": rule,
        "status": status,
        "duration_ms": round(elapsed * 1000, 2),
        "remote_addr": request.remote_addr,
    }
    message = f"{method} {fields['path']} {status} {fields['duration_ms']}ms"
    if rule.startswith(WEBHOOK_PREFIX):
        webhook = _webhook_fields(rule.rsplit("/", 1)[-1], response)
        metrics.WEBHOOK_EVENTS.labels(webhook=webhook["webhook"], outcome=webhook["outcome"]).inc()
        fields.update(webhook)
        message += f" {webhook['webhook']} event {webhook['event_id']}: {webhook['outcome']}"
        if webhook.get("reason"):
            message += f" ({webhook['reason']})"
    level = logging.ERROR if status >= 500 and status != 503 else logging.INFO
    log.log(logging.WARNING if status == 503 else level, message, extra=fields)
    return response


def _webhook_fields(name: str, response: Response) -> dict[str, Any]:
    document = g.pop("webhook_document", None) or {}
    body = response.get_json(silent=True) if response.is_json else None
    body = body if isinstance(body, dict) else {}
    status = response.status_code
    if status == 200 and body.get("status") in ANSWERED:
        outcome, reason = str(body["status"]), body.get("reason")
    else:
        outcome = "rejected" if status < 500 else "unavailable" if status == 503 else "error"
        reason = body.get("error") or response.status
    event_id = body.get("event_id") or document.get("event_id")
    event_type = document.get("event_type") or (name if name == "tracking" else None)
    fields = {
        "webhook": name,
        "event_id": _text(event_id),
        "event_type": _text(event_type),
        "outcome": outcome,
    }
    if reason and outcome in ("rejected", "unavailable", "error", "parked", "conflict"):
        fields["reason"] = str(reason)[:MAX_REASON]
    return fields


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:MAX_FIELD]


@bp.get("/metrics")
def scrape() -> Response:
    """Prometheus text format; any API token (checked with /api's bearer tokens)."""
    from prometheus_client import CONTENT_TYPE_LATEST

    ctx = current_app.extensions["stockmirror"]
    body = metrics.exposition(ctx.db, ctx.settings.metrics_multiproc_dir)
    return Response(body, content_type=CONTENT_TYPE_LATEST)
