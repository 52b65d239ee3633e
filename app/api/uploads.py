"""Request bodies read whole, never cut: over the limit is 413 whether the body came with a
Content-Length or chunked. CSV uploads as text/csv or as a multipart/form-data file."""

from __future__ import annotations

import io
from typing import Any

from flask import current_app, request
from werkzeug.formparser import parse_form_data

from app.errors import ApiError

TOO_LARGE = "request body is larger than 1 MiB"
CSV_TYPES = ("text/csv", "text/plain", "application/csv", "application/vnd.ms-excel")
CSV_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}


def read_body() -> bytes:
    """The whole request body, at most the configured limit (1 MiB) or 413."""
    limit = current_app.extensions["stockmirror"].settings.max_body_bytes
    if request.content_length is not None:
        if request.content_length > limit:
            raise ApiError(TOO_LARGE, 413)
        raw = request.get_data(cache=True)
    elif request.environ.get("wsgi.input_terminated"):
        # Chunked: read the server's stream ourselves, one byte past the limit, so a
        # long body is refused rather than silently cut where the limit falls.
        stream = request.environ["wsgi.input"]
        raw = _read_at_most(stream, limit + 1)
    else:
        raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise ApiError(TOO_LARGE, 413)
    return raw


def _read_at_most(stream: Any, size: int) -> bytes:
    parts, left = [], size
    while left > 0:
        chunk = stream.read(min(left, 65536))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def csv_text() -> str:
    """The uploaded CSV as text: a text/csv body or the file of a multipart form."""
    raw = read_body()
    if request.mimetype == "multipart/form-data":
        raw = _multipart_file(raw)
    elif request.mimetype not in CSV_TYPES:
        raise ApiError("content type must be text/csv or multipart/form-data", 415)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(
            "the CSV must be UTF-8 text", 422, fields={"file": ["not UTF-8 text"]}
        ) from None


def _multipart_file(raw: bytes) -> bytes:
    environ = dict(request.environ)
    environ.update(
        {"wsgi.input": io.BytesIO(raw), "CONTENT_LENGTH": str(len(raw))},
    )
    environ.pop("wsgi.input_terminated", None)
    try:
        _, _, files = parse_form_data(environ)
    except ValueError:
        raise ApiError("the multipart body cannot be read", 400) from None
    try:
        upload = files.get("file") or next(iter(files.values()), None)
        if upload is None:
            raise ApiError(
                "the form has no file: send the CSV as the `file` field",
                422,
                fields={"file": ["required"]},
            )
        data: bytes = upload.read()
        return data
    finally:
        for stored in files.values():
            stored.close()
