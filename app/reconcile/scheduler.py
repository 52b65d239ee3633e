"""The scheduler process: APScheduler 3 BlockingScheduler in UTC, one job lock per job.

Two schedulers may run side by side (a deploy overlap, a mistake): each job run first
claims its slot — an insert of (job, fire time) that only one process wins — then takes
the job lock (PostgreSQL: `pg_try_advisory_lock`; SQLite: a `running` row checked and
written in one BEGIN IMMEDIATE transaction), so a slot runs once and a long run is never
overlapped by the next. Runs, skips and failures are rows in `scheduler_runs`
(`GET /api/scheduler/runs`).
"""

from __future__ import annotations

import logging
import os
import socket
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.db import Database
from app.failures import is_unavailable, short_reason
from app.reconcile import repository as repo
from app.reconcile.models import SchedulerRun
from app.timeutil import isoformat, utcnow

log = logging.getLogger(__name__)

RUN_STATUSES = ("running", "done", "failed", "skipped")
STALE_RUN = timedelta(hours=6)  # SQLite: a `running` row older than this was a crash
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # interval jobs share slots across processes


class JobSkipped(Exception):
    """The job had nothing it could do (e.g. Starshipit not configured): a recorded skip."""


class JobFailed(Exception):
    """The job failed with a short, safe detail (`unavailable`: Starshipit or the
    database could not be reached, so a later run may succeed; `refused`: Starshipit
    refused the API keys, a configuration error)."""

    def __init__(self, detail: str, *, unavailable: bool = False, refused: bool = False) -> None:
        super().__init__(detail)
        self.unavailable = unavailable
        self.refused = refused


@dataclass(frozen=True)
class JobResult:
    """What a job run did; `attention`: it found something to act on (drift, events
    still parked)."""

    detail: str
    attention: bool = False


@dataclass(frozen=True)
class RunRecord:
    """The last run of a JobRunner: its status, detail and how it ended."""

    status: str  # done | failed | skipped
    detail: str | None = None
    attention: bool = False
    unavailable: bool = False
    not_configured: bool = False


NOT_CONFIGURED = "not configured"


def identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def advisory_key(job: str) -> int:
    return zlib.crc32(f"stockmirror:job:{job}".encode())


def slot_for(trigger: Any, now: datetime, tolerance: timedelta = timedelta(seconds=30)) -> datetime:
    """The fire time this run belongs to: the same value in every scheduler process."""
    slot: datetime = trigger.get_next_fire_time(None, now - tolerance)
    return slot.astimezone(UTC)


Work = Callable[[], JobResult | str | None]


class JobRunner:
    def __init__(self, db: Database, name: str | None = None) -> None:
        self.db = db
        self.name = name or identity()
        self.last: RunRecord | None = None

    def run(self, job: str, slot: datetime | None, work: Work) -> str:
        """Run `work` once for (job, slot) across all schedulers; returns the run status.
        With no slot (a manual `--once` run) no scheduled slot is claimed: the job only
        takes its lock, so the next scheduled run still happens."""
        if slot is not None and not self.db.run(lambda s: repo.claim_slot(s, job, slot)):
            self._record(job, slot, "skipped", "slot already taken by another scheduler")
            return self._last("skipped", "slot already taken by another scheduler")
        with self._job_lock(job, slot) as run_id:
            if run_id is None:
                detail = "previous run of this job still in progress"
                self._record(job, slot, "skipped", detail)
                return self._last("skipped", detail)
            record = self._work(job, work)
            self._finish(run_id, record.status, record.detail)
            log.info("job %s: %s — %s", job, record.status, record.detail)  # once recorded
            self.last = record
            return record.status

    def _work(self, job: str, work: Work) -> RunRecord:
        try:
            result = work()
        except JobSkipped as skipped:
            return RunRecord(
                "skipped", str(skipped), not_configured=str(skipped).startswith(NOT_CONFIGURED)
            )
        except JobFailed as failed:
            log.warning("job %s failed: %s", job, failed)
            return RunRecord(
                "failed",
                str(failed)[:2000],
                unavailable=failed.unavailable,
                not_configured=failed.refused,
            )
        except Exception as error:  # noqa: BLE001 - recorded with a short reason
            return RunRecord(
                "failed", short_reason(error, log, f"job {job}"), unavailable=is_unavailable(error)
            )
        if isinstance(result, JobResult):
            return RunRecord("done", result.detail, attention=result.attention)
        return RunRecord("done", result)

    def _last(self, status: str, detail: str) -> str:
        self.last = RunRecord(status, detail)
        return status

    @contextmanager
    def _job_lock(self, job: str, slot: datetime | None) -> Iterator[int | None]:
        values = {"job": job, "slot": slot, "status": "running", "scheduler": self.name}
        if not self.db.is_postgres:

            def begin(session: Session) -> int | None:
                if repo.job_running_since(session, job, utcnow() - STALE_RUN):
                    return None
                return repo.add_scheduler_run(session, **values)

            yield self.db.run(begin)
            return
        key = advisory_key(job)
        with self.db.engine.connect() as conn:
            held = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
            conn.commit()
            if not held:
                yield None
                return
            try:
                yield self.db.run(lambda s: repo.add_scheduler_run(s, **values))
            finally:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                conn.commit()

    def _record(self, job: str, slot: datetime | None, status: str, detail: str) -> None:
        log.info("job %s (%s): %s — %s", job, isoformat(slot), status, detail)
        self.db.run(
            lambda s: repo.add_scheduler_run(
                s,
                job=job,
                slot=slot,
                status=status,
                scheduler=self.name,
                finished_at=utcnow(),
                detail=detail,
            )
        )

    def _finish(self, run_id: int, status: str, detail: str | None) -> None:
        self.db.run(lambda s: repo.finish_scheduler_run(s, run_id, status, detail))


def runs_query(jobs: list[str], statuses: list[str]) -> sa.Select:
    return repo.scheduler_runs_query(jobs, statuses)


def run_json(r: SchedulerRun) -> dict[str, Any]:
    return {
        "id": r.id,
        "job": r.job,
        "slot": isoformat(r.slot),
        "status": r.status,
        "scheduler": r.scheduler,
        "started_at": isoformat(r.started_at),
        "finished_at": isoformat(r.finished_at),
        "detail": r.detail,
    }


def build_scheduler(
    jobs: dict[str, tuple[Any, Work]],
    runner: JobRunner,
    *,
    background: bool = False,
) -> Any:
    """A scheduler (UTC) running each (trigger, work) through `runner`: blocking for the
    scheduler process, in a background thread for `stockmirror serve`."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = (BackgroundScheduler if background else BlockingScheduler)(timezone=UTC)
    for name, (trigger, work) in jobs.items():

        def fire(name: str = name, trigger: Any = trigger, work: Any = work) -> None:
            runner.run(name, slot_for(trigger, utcnow()), work)

        scheduler.add_job(
            fire,
            trigger,
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=300,
        )
    return scheduler
