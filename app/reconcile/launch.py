"""Start a reconciliation now and let it run (API, console): the run row is created at
once and the comparison goes on in a thread (inline when `reconcile_async` is off)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from app.config import Settings
from app.db import Database
from app.reconcile.client import client_from_settings
from app.reconcile.review import ensure_facts
from app.reconcile.service import execute_run, resolve_window, start_run

log = logging.getLogger(__name__)


def launch_run(
    db: Database,
    settings: Settings,
    *,
    account_id: str,
    since: datetime | None,
    until: datetime | None,
    trigger: str,
) -> int:
    """Create the run and start it; its id. Raises StarshipitNotConfigured, WindowError."""
    client = client_from_settings(settings)
    since, until = resolve_window(
        db, account_id, since, until, timedelta(minutes=settings.reconcile_overlap_minutes)
    )
    run_id = start_run(db, account_id=account_id, since=since, until=until, trigger=trigger)
    in_background(db, settings, run_id, lambda: execute_run(db, client, run_id))
    return run_id


def in_background(
    db: Database, settings: Settings, run_id: int, work: Callable[[], object]
) -> None:
    """Run `work` for a run (a thread unless settings say inline); a failure is recorded
    on the run row by the work itself. The drift's money facts are worked out after."""

    def target() -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - recorded on the run row as failed
            log.warning("reconciliation %s failed (recorded on the run)", run_id)
        try:
            ensure_facts(db, [run_id])
        except Exception:  # noqa: BLE001 - facts are rebuilt when the report is read
            log.warning("reconciliation %s: drift values not worked out yet", run_id)

    if settings.reconcile_async:
        threading.Thread(target=target, name=f"reconcile-{run_id}", daemon=True).start()
    else:
        target()
