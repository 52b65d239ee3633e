"""`stockmirror serve`: one process runs the web app and the scheduled jobs, and says
what to paste into Starshipit."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, get_sockaddr, make_server, select_address_family

from app.config import Settings
from app.db import Database

WEBHOOKS = (("order events", "orders"), ("tracking", "tracking"))
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 - recognised, not bound


class CannotListen(Exception):
    pass


def bind(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """Werkzeug's threaded server on a socket bound here, so that a port in use or an
    unknown host is our one-line error rather than werkzeug's exit."""
    try:
        family = select_address_family(host, port)
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(get_sockaddr(host, port, family))
            sock.listen(128)
            return make_server(host, port, app, threaded=True, fd=sock.fileno())
    except OSError as error:
        reason = error.strerror or str(error)
        raise CannotListen(f"cannot listen on {host}:{port}: {reason}") from None


def start_jobs(settings: Settings, db: Database) -> Any:
    """The scheduler's jobs in a background thread of this process, through the same
    slots and job locks as `stockmirror scheduler` (running both is safe)."""
    from app.reconcile.jobs import job_table
    from app.reconcile.scheduler import JobRunner, build_scheduler

    scheduler = build_scheduler(job_table(settings, db), JobRunner(db), background=True)
    scheduler.start()
    return scheduler


def base_url(host: str, port: int) -> str:
    shown = socket.gethostname() if host in WILDCARD_HOSTS else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def banner(
    settings: Settings, url: str, next_runs: dict[str, datetime | None] | None
) -> Iterator[str]:
    """What `serve` prints once it listens (never a secret's value)."""
    yield f"stockmirror is serving on {url}"
    yield f"  database: {_safe_url(settings.database_url)} (migrated)"
    yield f"  allocation: {settings.allocation}; negative stock: {settings.negative_stock}"
    yield "Starshipit webhooks (Settings → Tracking & notifications; docs/starshipit-setup.md):"
    for label, path in WEBHOOKS:
        yield f"  {label + ':':14} {url}/webhooks/starshipit/{path}"
    yield "  signing secret: STOCKMIRROR_WEBHOOK_SECRETS (environment or instance/secrets.json)"
    if urlparse_host(url) in ("127.0.0.1", "localhost", "[::1]"):
        yield (
            "  Starshipit cannot reach 127.0.0.1: give it this machine's public HTTPS address "
            "(a reverse proxy or tunnel in front of this port)"
        )
    yield from _starshipit_api(settings)
    yield from _jobs(settings, next_runs)
    yield f"Metrics: {url}/metrics (bearer token); health: {url}/healthz, {url}/readyz"
    yield (
        "Listen elsewhere: HOST=0.0.0.0 PORT=8080 make run "
        "(or stockmirror serve --host 0.0.0.0 --port 8080)"
    )


def urlparse_host(url: str) -> str:
    return url.split("://", 1)[-1].rsplit(":", 1)[0]


def _starshipit_api(settings: Settings) -> Iterator[str]:
    if settings.starshipit_api_key and settings.starshipit_subscription_key:
        yield (
            f"Starshipit API: configured ({settings.starshipit_api_url}, "
            f"{settings.starshipit_rate_limit:g} requests/s)"
        )
        return
    missing = [
        name
        for name, value in (
            ("STARSHIPIT_API_KEY", settings.starshipit_api_key),
            ("STARSHIPIT_SUBSCRIPTION_KEY", settings.starshipit_subscription_key),
        )
        if not value
    ]
    yield (
        f"Starshipit API: not configured (set {' and '.join(missing)}); reconciliation, "
        "polling and the tracking webhook's order fetch wait until it is"
    )


def _jobs(settings: Settings, next_runs: dict[str, datetime | None] | None) -> Iterator[str]:
    if next_runs is None:
        yield "Scheduled jobs: not in this process (--no-scheduler); run `stockmirror scheduler`"
        return
    yield "Scheduled jobs (UTC, in this process; a separate `stockmirror scheduler` is safe too):"
    for name, when in next_runs.items():
        shown = when.strftime("%Y-%m-%d %H:%M:%S") if when else "paused"
        yield f"  {name:10} next run {shown}"
    if "poll" not in next_runs:
        yield f"  {'poll':10} off (STOCKMIRROR_POLL_INTERVAL={settings.poll_interval_seconds})"


def next_runs(scheduler: Any) -> dict[str, datetime | None]:
    return {job.id: job.next_run_time for job in scheduler.get_jobs()}


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
