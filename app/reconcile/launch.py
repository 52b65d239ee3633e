"""Start or resume a reconciliation now and let it run (API, console): the run is claimed
at once (a run row with its lease) and the comparison goes on in a thread (inline when
`reconcile_async` is off); the drift's money facts are worked out when it ends."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from app.config import Settings
from app.db import Database
from app.reconcile.client import StarshipitClient, client_from_settings
from app.reconcile.review import ensure_facts
from app.reconcile.service import Claim, execute_run, resolve_window, resume_run, start_run

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
    """Create the run and start it; its id. Raises StarshipitNotConfigured, LookupError
    (unknown account), WindowError, RunConflict (the account has a run running)."""
    client = client_from_settings(settings, account_id)
    since, until = resolve_window(
        db, account_id, since, until, timedelta(minutes=settings.reconcile_overlap_minutes)
    )
    claim = start_run(
        db, account_id=account_id, since=since, until=until, trigger=trigger, lease=_lease(settings)
    )
    _in_background(db, settings, client, claim)
    return claim.run_id


def launch_resume(db: Database, settings: Settings, run_id: int, account_id: str) -> int:
    """Take a failed or interrupted run back and continue it from its first unfinished
    page. Raises StarshipitNotConfigured, LookupError, ResumeRefused, RunConflict."""
    client = client_from_settings(settings, account_id)
    claim = resume_run(db, run_id, lease=_lease(settings))
    _in_background(db, settings, client, claim)
    return claim.run_id


def _lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.reconcile_lease_seconds)


def _in_background(
    db: Database, settings: Settings, client: StarshipitClient, claim: Claim
) -> None:
    """Execute a claimed run (a thread unless settings say inline); a failure is recorded
    on the run row by the run itself. The drift's money facts are worked out after."""

    def target() -> None:
        try:
            execute_run(db, client, claim, lease=_lease(settings))
        except Exception:  # noqa: BLE001 - recorded on the run row as failed
            log.warning("reconciliation %s failed (recorded on the run)", claim.run_id)
        try:
            ensure_facts(db, [claim.run_id])
        except Exception:  # noqa: BLE001 - facts are rebuilt when the report is read
            log.warning("reconciliation %s: drift values not worked out yet", claim.run_id)

    if settings.reconcile_async:
        threading.Thread(target=target, name=f"reconcile-{claim.run_id}", daemon=True).start()
    else:
        target()
