"""Log lines: one record is one line, fields per CONTRACT §7, secrets never written."""

from __future__ import annotations

import json
import logging

import pytest

from app.observability.logs import StderrHandler, set_secrets, set_threshold


@pytest.fixture
def logger():
    log = logging.getLogger("tests.logs")
    log.propagate = False
    log.setLevel(logging.INFO)
    set_threshold(logging.NOTSET)  # a command run by an earlier test may have quietened logs
    handlers = {}

    def use(log_format: str) -> logging.Logger:
        for handler in handlers.values():
            log.removeHandler(handler)
        handlers[log_format] = StderrHandler(log_format)
        log.addHandler(handlers[log_format])
        return log

    yield use
    for handler in handlers.values():
        log.removeHandler(handler)
    set_secrets([])


def test_a_json_line_has_ts_level_msg_request_id_and_its_fields(logger, capsys):
    logger("json").info("webhook %s", "orders", extra={"event_id": "e-1", "outcome": "applied"})
    [line] = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    assert record["msg"] == "webhook orders"
    assert record["level"] == "INFO"
    assert record["request_id"] is None  # outside a request
    assert record["ts"].endswith("+00:00")
    assert (record["event_id"], record["outcome"]) == ("e-1", "applied")


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_newline_in_an_event_id_cannot_forge_a_second_line(logger, capsys, log_format):
    forged = 'evt-1\n{"level": "ERROR", "msg": "forged"}\r\x1b[2J'
    logger(log_format).info("event %s applied", forged, extra={"event_id": forged})
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert "\\x0a" in lines[0] and "\\x1b" in lines[0]
    if log_format == "json":
        record = json.loads(lines[0])
        assert record["msg"].startswith("event evt-1\\x0a{")
        assert record["event_id"].startswith("evt-1\\x0a")


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_configured_secrets_are_redacted_everywhere_including_tracebacks(
    logger, capsys, log_format
):
    set_secrets(["whsec-0123456789", "tok-abcdefgh", None, "ab"])
    log = logger(log_format)
    try:
        raise RuntimeError("connect failed with key whsec-0123456789")
    except RuntimeError:
        log.exception("calling ab with tok-abcdefgh", extra={"detail": "key=whsec-0123456789"})
    err = capsys.readouterr().err
    assert "whsec-0123456789" not in err and "tok-abcdefgh" not in err
    assert "[redacted]" in err
    assert "ab" in err  # too short to be a secret: words stay readable
    if log_format == "json":
        [line] = err.splitlines()
        assert "RuntimeError" in json.loads(line)["exc_info"]
    else:
        continuation = err.splitlines()[1:]
        assert continuation and all(line.startswith("    ") for line in continuation)
