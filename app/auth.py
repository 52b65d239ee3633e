"""Bearer-token guard for /api/*."""

from __future__ import annotations

import hmac

from flask import Flask, current_app, request

from app.errors import ApiError

OPENAPI_PATH = "/api/openapi.json"  # the API's description needs no token (CONTRACT §7)


def install_api_auth(app: Flask) -> None:
    @app.before_request
    def _require_token() -> None:
        guarded = request.path.startswith("/api/") or request.path == "/metrics"
        if not guarded or request.path == OPENAPI_PATH:
            return
        tokens = current_app.extensions["stockmirror"].settings.api_tokens
        if not tokens:
            raise ApiError("api token not configured", 503)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError("missing bearer token (Authorization: Bearer <token>)", 401)
        token = token.strip()
        ok = False
        for known in tokens:
            ok |= hmac.compare_digest(known.encode(), token.encode())
        if not ok:
            raise ApiError("invalid bearer token", 401)
