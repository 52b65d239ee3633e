"""Services the console calls that other work adds in parallel. Each is one line to
wire: return the service instead of None (the console shows the button meanwhile and
answers 409 "not available" when it is used)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def discard_service() -> Callable[..., Any] | None:
    """discard(db, account_id, event_id, reason, actor): retire a parked event for good
    (POST /api/events/{event_id}/discard's service). Raise LookupError for an unknown
    event, ValueError when it cannot be discarded."""
    return None  # WIRE: from app.webhooks.service import discard_event; return discard_event


def resume_service() -> Callable[..., Any] | None:
    """resume(db, client, run_id): continue a failed or interrupted reconciliation from
    its first unfinished page (POST /api/reconciliations/{id}/resume's service); called in
    the background like a new run. Raise ValueError when the run cannot resume."""
    return None  # WIRE: from app.reconcile.service import resume_run; return resume_run
