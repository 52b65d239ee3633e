"""The console blueprint: sign-in, then the pages of app.console.pages_*."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from app.console.auth import (
    current_user,
    database,
    require_session,
    safe_next,
    security_headers,
)
from app.inputrules import INT64, int_problem
from app.users.service import sign_in, sign_out

log = logging.getLogger(__name__)
bp = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)
bp.before_request(require_session)
bp.after_request(security_headers)


@bp.before_request
def _ids_in_range() -> None:
    """An id in the path beyond what the database stores (int64) names nothing: 404, not a
    database overflow (a 500)."""
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and int_problem(value, INT64):
            abort(404)


ERROR_WORDS = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Not allowed", "Your role cannot do this. Ask an admin if you need it."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Not allowed", "This address does not take that kind of request."),
    409: ("Conflict", "This cannot be done in the current state."),
    422: ("Check your input", "Something in the request is not valid."),
}


@bp.errorhandler(CSRFError)
def _csrf_error(error: CSRFError) -> ResponseReturnValue:
    message = "The form had expired or was sent from elsewhere; nothing was changed."
    return render_template("console/error.html", title="Form expired", message=message), 400


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> ResponseReturnValue:
    code = error.code or 500
    title, message = ERROR_WORDS.get(code, ("Error", "Something went wrong."))
    detail = getattr(error, "description", None) if code in (404, 409, 422) else None
    return render_template("console/error.html", title=title, message=detail or message), code


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> ResponseReturnValue:
    from app.db import StorageUnavailable

    if isinstance(error, StorageUnavailable | OperationalError | InterfaceError):
        log.error("storage unavailable: %s", type(error).__name__)
        title, message, code = "Try again shortly", "The database is not reachable.", 503
    else:
        log.exception("console page failed")
        title, message, code = "Something went wrong", "The error was logged.", 500
    return render_template("console/error.html", title=title, message=message), code


@bp.get("/login")
def login() -> ResponseReturnValue:
    if current_user_or_none() is not None:
        return redirect(safe_next(request.args.get("next")), 303)
    return render_template("console/login.html", next=safe_next(request.args.get("next")))


@bp.post("/login")
def login_post() -> ResponseReturnValue:
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    target = safe_next(request.form.get("next"))
    result = sign_in(database(), email, password, request.remote_addr or "unknown")
    if result.token is None:
        if result.retry_in:
            message = (
                "Too many failed sign-ins. Wait "
                f"{result.retry_in} second{'s' if result.retry_in != 1 else ''} and try again."
            )
            status = 429
        else:
            message = "The email or password is not right."
            status = 401
        return render_template(
            "console/login.html", next=target, email=email[:100], error=message
        ), status
    session.clear()  # a new session: nothing from before sign-in carries over
    session["sid"] = result.token
    session.permanent = True
    return redirect(target, 303)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    token = session.get("sid")
    if isinstance(token, str):
        sign_out(database(), token)
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("console.login"), 303)


def current_user_or_none() -> object | None:
    from flask import g

    return g.get("console_user")


from app.console import pages_finance, pages_ops, pages_overview  # noqa: E402, F401

__all__ = ["bp", "current_user"]
