"""Every error leaves as JSON: {"error": ..., "fields"?: {...}}."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError
from sqlalchemy import exc
from werkzeug.exceptions import HTTPException

from app.db import StorageUnavailable
from app.ledger.domain import LedgerError
from app.schemas import flatten_errors

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400

    def __init__(self, message: str, status: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.extra = extra


def error_response(status: int, message: str, **extra: Any) -> ResponseReturnValue:
    body: dict[str, Any] = {"error": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> ResponseReturnValue:
        return error_response(error.status, error.message, **error.extra)

    @app.errorhandler(ValidationError)
    def _validation(error: ValidationError) -> ResponseReturnValue:
        fields = flatten_errors(error.messages)
        names = ", ".join(sorted(fields))
        return error_response(422, f"invalid input: {names}", fields=fields)

    @app.errorhandler(LedgerError)
    def _ledger(error: LedgerError) -> ResponseReturnValue:
        fields = {error.field: [str(error)]} if error.field else None
        return error_response(422, str(error), fields=fields)

    @app.errorhandler(StorageUnavailable)
    @app.errorhandler(exc.OperationalError)
    @app.errorhandler(exc.InterfaceError)
    def _storage(error: Exception) -> ResponseReturnValue:
        log.error("storage unavailable: %s", str(error).splitlines()[0])
        return error_response(503, "storage unavailable, retry later")

    @app.errorhandler(exc.DataError)
    def _data(error: exc.DataError) -> ResponseReturnValue:
        # Input is checked against the columns first; this is the net under that check.
        log.warning("database refused a value: %s", type(error.orig).__name__)
        return error_response(422, "a value is out of the range the database holds")

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> ResponseReturnValue:
        messages = {
            404: "not found",
            405: "method not allowed",
            413: "request body is larger than 1 MiB",
        }
        code = error.code or 500
        response = jsonify({"error": messages.get(code, error.description or error.name)})
        for name, value in error.get_headers():
            if name.lower() != "content-type":  # keep Allow, Retry-After...
                response.headers[name] = value
        return response, code

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> ResponseReturnValue:
        log.exception("unhandled error")
        return error_response(500, "internal error")
