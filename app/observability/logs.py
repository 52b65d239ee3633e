"""Log lines: text for a terminal (`make run`), JSON for machines (STOCKMIRROR_LOG_FORMAT=json).

Every line goes to stderr through one handler whose filter adds the request id, escapes
control characters (a newline inside an event id cannot forge a second line) and replaces
every configured secret, token and API key by `[redacted]`, in the message, its fields and
any traceback. JSON lines are written by python-json-logger: `ts`, `level`, `msg`,
`logger`, `request_id`, plus the fields a line carries (`method`, `path`, `status`,
`duration_ms`, `event_id`, `outcome`, `reason`, ...).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter values would blank out ordinary words; no real secret is
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_RESERVED = frozenset(RESERVED_ATTRS) | {"request_id", "taskName"}
_secrets: tuple[str, ...] = ()
_threshold = logging.NOTSET  # one-shot commands raise it: their own output says enough


def escape(text: str) -> str:
    r"""Control characters as `\xNN` (`\u2028` style above 0xff): one record, one line."""

    def code(match: re.Match[str]) -> str:
        value = ord(match.group())
        return f"\\x{value:02x}" if value <= 0xFF else f"\\u{value:04x}"

    return _CONTROL.sub(code, text)


def set_secrets(values: Iterable[str | None]) -> None:
    """Values that must never appear in a log line (longest first, so none hides another)."""
    global _secrets
    kept = {v for v in values if v and len(v) >= MIN_SECRET_LENGTH}
    _secrets = tuple(sorted(kept, key=len, reverse=True))


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def clean(value: str) -> str:
    return escape(redact(value))


def current_request_id() -> str | None:
    from flask import g, has_request_context

    if not has_request_context():
        return None
    value = g.get("request_id")
    return value if isinstance(value, str) else None


class SafeFields(logging.Filter):
    """Adds `request_id`; redacts and escapes the message, string fields and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        record.msg = clean(record.getMessage())
        record.args = ()
        for key, value in list(record.__dict__.items()):
            if key not in _RESERVED and isinstance(value, str):
                setattr(record, key, clean(value))
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = redact(text)
        if record.exc_text:
            # A traceback stays readable, but no line of it can pass for a record of its own.
            lines = record.exc_text.split("\n")
            record.exc_text = "\n".join("    " + clean(line) for line in lines)
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "{levelname}{message}{name}{request_id}",
        style="{",
        rename_fields={"levelname": "level", "message": "msg", "name": "logger"},
        timestamp="ts",
    )


def text_formatter() -> logging.Formatter:
    formatter = logging.Formatter(
        "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%SZ",
    )
    formatter.converter = time.gmtime
    return formatter


def formatter(log_format: str = "text") -> logging.Formatter:
    """The formatter for STOCKMIRROR_LOG_FORMAT (also named by deploy/gunicorn.conf.py)."""
    return json_formatter() if log_format == "json" else text_formatter()


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time, through SafeFields."""

    def __init__(self, log_format: str = "text") -> None:
        super().__init__()
        self.addFilter(SafeFields())
        self.setFormatter(formatter(log_format))
        self.setLevel(_threshold)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def secrets_of(settings: Any) -> list[str | None]:
    """Every value of these settings that must never be logged."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        password = make_url(settings.database_url).password
    except ArgumentError:
        password = None
    return [
        *settings.webhook_secrets,
        *settings.api_tokens,
        settings.starshipit_api_key,
        settings.starshipit_subscription_key,
        None if password is None else str(password),
    ]


def set_threshold(level: int) -> None:
    """The lowest level written (NOTSET: everything the loggers pass on)."""
    global _threshold
    _threshold = level
    for handler in logging.getLogger().handlers:
        if isinstance(handler, StderrHandler):
            handler.setLevel(level)


def configure_logging(log_format: str, secrets: Iterable[str | None]) -> None:
    """One StderrHandler on the root logger (replacing ours from an earlier call); Python
    warnings become log lines too, so every line has the chosen format."""
    set_secrets(secrets)
    logging.captureWarnings(True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, StderrHandler):
            root.removeHandler(handler)
    root.addHandler(StderrHandler(log_format))
    logging.getLogger("app").setLevel(logging.INFO)
