"""Bearer-token guard for /api/*."""

from __future__ import annotations

import hmac

from flask import Flask, current_app, request

from app.errors import ApiError


def install_api_auth(app: Flask) -> None:
    @app.before_request
    def _require_token() -> None:
        if not request.path.startswith("/api/") and request.path != "/metrics":
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
