"""`make run` / `stockmirror serve`: one command runs the whole product on one host."""

from __future__ import annotations

import json
import re
import socket
import time
from datetime import UTC, datetime

import requests
from click.testing import CliRunner

from app.cli import main
from app.config import Settings
from app.serve import banner
from tests.helpers import shipped_event
from tests.live import BIN, clean_env, free_port, live

TIMEOUT = 30


def test_serve_runs_the_scheduled_jobs_in_its_process_and_says_what_to_paste_into_starshipit(
    tmp_path,
):
    port = free_port()
    env = clean_env(
        STOCKMIRROR_INSTANCE_PATH=str(tmp_path / "instance"),
        STOCKMIRROR_RETRY_INTERVAL="1",
        PORT=str(port),  # how the banner says to pick another port
    )
    with live([str(BIN / "stockmirror"), "serve"], env) as server:
        server.wait_for(lambda stream, line: line.startswith("Listen elsewhere"))
        out = "\n".join(server.lines["stdout"])
        base = f"http://127.0.0.1:{port}"
        stored = json.loads((tmp_path / "instance" / "secrets.json").read_text())
        secret, token = stored["STOCKMIRROR_WEBHOOK_SECRETS"], stored["STOCKMIRROR_API_TOKENS"]

        assert "generated secrets" in out and out.count(secret) == 1  # printed once
        assert f"stockmirror is serving on {base}" in out
        assert f"order events:  {base}/webhooks/starshipit/orders" in out
        assert f"tracking:      {base}/webhooks/starshipit/tracking" in out
        assert "Starshipit API: not configured (set STARSHIPIT_API_KEY and " in out
        assert re.search(r"^  reconcile  next run \d{4}-\d\d-\d\d \d\d:00:00$", out, re.M)
        assert re.search(r"^  retry      next run \d{4}-\d\d-\d\d ", out, re.M)
        assert "poll       off (STOCKMIRROR_POLL_INTERVAL=0)" in out
        assert "HOST=0.0.0.0 PORT=8080 make run" in out

        assert requests.get(f"{base}/readyz", timeout=TIMEOUT).status_code == 200
        raw = json.dumps(shipped_event("evt-serve-1", 1, [("SKU-S", 1, 1)])).encode()
        from app.webhooks.signature import sign

        answer = requests.post(
            f"{base}/webhooks/starshipit/orders",
            data=raw,
            headers={
                "Content-Type": "application/json",
                "X-Starshipit-Signature": sign(secret, raw),
            },
            timeout=TIMEOUT,
        )
        assert answer.json()["status"] == "applied"

        # The retry job (every second here) runs inside this very process.
        server.wait_for(lambda stream, line: "job retry: done" in line)
        # The job logs "done" just before it records the run as done: poll for the record.
        deadline = time.monotonic() + TIMEOUT
        while True:
            runs = requests.get(
                f"{base}/api/scheduler/runs?job=retry&status=done",
                headers={"Authorization": f"Bearer {token}"},
                timeout=TIMEOUT,
            ).json()
            if runs["total"] >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert runs["total"] >= 1
        assert all(r["scheduler"].endswith(f":{server.process.pid}") for r in runs["items"])
        server.wait_for(
            lambda stream, line: (
                "POST /webhooks/starshipit/orders 200" in line and "evt-serve-1: applied" in line
            )
        )
        assert server.stop() == 0
    assert "stockmirror stopped" in server.lines["stdout"]
    assert secret not in "\n".join(server.lines["stderr"])  # logs never carry it


def test_serve_on_a_port_in_use_is_a_one_line_usage_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main,
            ["serve", "--port", str(port), "--no-scheduler"],
            env={
                "STOCKMIRROR_INSTANCE_PATH": str(tmp_path),
                "DATABASE_URL": None,
                "STOCKMIRROR_WEBHOOK_SECRETS": "given-webhook-secret",
                "STOCKMIRROR_API_TOKENS": "given-api-token",
            },
        )
    assert result.exit_code == 2, result.output
    assert (
        result.output.strip()
        .splitlines()[-1]
        .startswith(f"error: cannot listen on 127.0.0.1:{port}")
    )
    assert "Traceback" not in result.output


def test_serve_with_a_bad_setting_names_it_and_exits_2(tmp_path):
    result = CliRunner().invoke(
        main,
        ["serve"],
        env={"STOCKMIRROR_INSTANCE_PATH": str(tmp_path), "STOCKMIRROR_LOG_FORMAT": "xml"},
    )
    assert result.exit_code == 2
    assert result.output == ("error: STOCKMIRROR_LOG_FORMAT must be one of text, json, not 'xml'\n")


def _settings(**values) -> Settings:
    return Settings(database_url="sqlite:///x.db", **values)


def test_banner_says_starshipit_api_is_configured_without_printing_the_keys():
    settings = _settings(starshipit_api_key="KEY-123456", starshipit_subscription_key="SUB-654321")
    lines = list(banner(settings, "http://shop.example:8000", {"retry": None}))
    text = "\n".join(lines)
    assert "Starshipit API: configured (https://api.starshipit.com, 2 requests/s)" in text
    assert "KEY-123456" not in text and "SUB-654321" not in text
    assert "cannot reach 127.0.0.1" not in text  # a public name needs no warning


def test_banner_names_the_missing_starshipit_key_and_a_scheduler_left_to_its_own_process():
    settings = _settings(starshipit_api_key="KEY-123456")
    text = "\n".join(banner(settings, "http://127.0.0.1:8000", None))
    assert "Starshipit API: not configured (set STARSHIPIT_SUBSCRIPTION_KEY)" in text
    assert "Scheduled jobs: not in this process (--no-scheduler)" in text
    assert "Starshipit cannot reach 127.0.0.1" in text


def test_banner_lists_each_job_with_its_next_run_in_utc():
    when = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    text = "\n".join(banner(_settings(poll_interval_seconds=30), "http://h:1", {"poll": when}))
    assert "  poll       next run 2026-12-01 09:00:00" in text
    assert "STOCKMIRROR_POLL_INTERVAL" not in text
