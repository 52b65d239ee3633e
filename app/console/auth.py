"""Who is signed in, what they may do, and the headers every console page carries."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Response, abort, current_app, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from app.db import Database
from app.users.service import CurrentUser, session_user

F = TypeVar("F", bound=Callable[..., Any])
PUBLIC_ENDPOINTS = ("console.login", "console.login_post", "console.static")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def database() -> Database:
    db: Database = current_app.extensions["stockmirror"].db
    return db


def current_user() -> CurrentUser:
    user: CurrentUser = g.console_user
    return user


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, host or `//`): never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target


def require_session() -> ResponseReturnValue | None:
    """Blueprint before_request: a live server-side session, then the CSRF token on any
    state-changing request."""
    g.console_user = None
    if request.endpoint == "console.static":
        return None
    token = session.get("sid")
    user = session_user(database(), token) if isinstance(token, str) else None
    if request.endpoint in PUBLIC_ENDPOINTS:
        g.console_user = user
        if request.method == "POST":
            _check_csrf()
        return None
    if user is None:
        if token is not None:
            session.pop("sid", None)
        path = request.full_path.rstrip("?") if request.method == "GET" else "/"
        return redirect(url_for("console.login", next=path), 303)
    g.console_user = user
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        _check_csrf()
    return None


def _check_csrf() -> None:
    from app.console import csrf

    csrf.protect()  # raises CSRFError (400): nothing changes


def acts_on(area: str) -> Callable[[F], F]:
    """Refuse with 403 a request of a user whose role does not act on `area`."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user().may_act(area):
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate


def security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response
