"""The console: server-rendered pages for finance and warehouse ops (CONTRACT §6).

Sessions live on the server (app.users); every form carries a CSRF token (Flask-WTF's
CSRFProtect, checked for the console's own requests only: the bearer API and the
webhooks are not cookie-authenticated and stay exempt); every page sends a CSP without
inline scripts. Routes call the same services as the API and named read-model queries
(app.console.queries); templates only format."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from app.config import Settings
from app.instance import ensure_secret_key
from app.users.domain import SESSION_LIFETIME

csrf = CSRFProtect()


def register(app: Flask, settings: Settings) -> None:
    app.config.update(
        SECRET_KEY=settings.secret_key or ensure_secret_key(settings.instance_path),
        SESSION_COOKIE_NAME="stockmirror_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME + timedelta(minutes=5),
        # Checked by the console blueprint itself (see auth.py), not for /api or webhooks.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the server-side session
        WTF_CSRF_SSL_STRICT=settings.secure_cookies,
    )
    csrf.init_app(app)
    from app.console import format as formatting
    from app.console.routes import bp

    formatting.install(app, settings)
    app.register_blueprint(bp)
