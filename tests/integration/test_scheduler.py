"""Scheduler: a job slot runs once across schedulers, runs never overlap, and every run,
skip and failure is recorded and visible in the API."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.config import Settings
from app.reconcile.jobs import job_table, reconcile_job
from app.reconcile.scheduler import EPOCH, JobRunner, JobSkipped, build_scheduler, slot_for
from tests.helpers import AUTH

SLOT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(app):
    return app.extensions["stockmirror"].db


def runs(engine):
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT job, slot, status, scheduler, detail FROM scheduler_runs ORDER BY id")
        ).all()


def test_two_schedulers_firing_the_same_slot_run_it_once(db, engine):
    ran = []
    barrier = threading.Barrier(2)
    outcomes = []

    def scheduler(name: str) -> None:
        runner = JobRunner(db, name=name)
        barrier.wait()
        outcomes.append(runner.run("reconcile", SLOT, lambda: ran.append(name) or "ok"))

    threads = [threading.Thread(target=scheduler, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(ran) == 1
    assert sorted(outcomes) == ["done", "skipped"]
    recorded = runs(engine)
    assert sorted(r.status for r in recorded) == ["done", "skipped"]
    skipped = next(r for r in recorded if r.status == "skipped")
    assert skipped.detail == "slot already taken by another scheduler"


def test_a_run_still_in_progress_makes_the_next_slot_skip(db, engine):
    started, release = threading.Event(), threading.Event()
    outcome = []

    def long_job() -> str:
        started.set()
        release.wait(timeout=30)
        return "finished"

    first = threading.Thread(
        target=lambda: outcome.append(JobRunner(db, "a").run("reconcile", SLOT, long_job))
    )
    first.start()
    started.wait(timeout=30)
    try:
        second = JobRunner(db, "b").run("reconcile", SLOT + timedelta(hours=1), lambda: "x")
    finally:
        release.set()
        first.join()

    assert second == "skipped"
    assert outcome == ["done"]
    assert [(r.scheduler, r.status, r.detail) for r in runs(engine)] == [
        ("a", "done", "finished"),
        ("b", "skipped", "previous run of this job still in progress"),
    ]
    # the lock is released: the following slot runs
    assert JobRunner(db, "b").run("reconcile", SLOT + timedelta(hours=2), lambda: "x") == "done"


def test_failures_and_skips_are_recorded_and_listed_by_the_api(client, db):
    def broken() -> str:
        raise RuntimeError("database on fire")

    def nothing_to_do() -> str:
        raise JobSkipped("not configured: no keys")

    runner = JobRunner(db, "a")
    assert runner.run("poll", SLOT, broken) == "failed"
    assert runner.run("retry", SLOT, nothing_to_do) == "skipped"

    listed = client.get("/api/scheduler/runs", headers=AUTH).json
    assert [(r["job"], r["status"]) for r in listed["items"]] == [
        ("retry", "skipped"),
        ("poll", "failed"),
    ]
    assert listed["items"][0]["detail"] == "not configured: no keys"
    # an unexpected error is recorded as a short reason with an error id, never its text
    assert listed["items"][1]["detail"].startswith("internal error (error id ")
    assert "fire" not in listed["items"][1]["detail"]
    assert listed["items"][0]["slot"] == "2026-11-23T12:00:00Z"
    failed = client.get("/api/scheduler/runs?status=failed", headers=AUTH).json
    assert failed["total"] == 1


def test_reconcile_job_without_starshipit_keys_is_a_recorded_not_configured_skip(db, engine):
    settings = Settings(database_url=db.url)
    status = JobRunner(db, "a").run("reconcile", SLOT, lambda: reconcile_job(settings, db))
    assert status == "skipped"
    assert "not configured" in runs(engine)[0].detail


def test_slots_are_the_same_in_every_process_even_when_fired_late():
    settings = Settings(database_url="sqlite://", poll_interval_seconds=120)
    jobs = job_table(settings, None)  # type: ignore[arg-type]
    cron, _ = jobs["reconcile"]
    interval, _ = jobs["poll"]
    fired = datetime(2026, 11, 23, 12, 0, 0, 400_000, tzinfo=UTC)
    assert slot_for(cron, fired) == SLOT
    assert slot_for(cron, fired + timedelta(seconds=5)) == SLOT
    assert slot_for(interval, fired + timedelta(seconds=3)) == SLOT
    assert (slot_for(interval, SLOT + timedelta(seconds=121)) - EPOCH).total_seconds() % 120 == 0


def test_scheduler_is_utc_with_hourly_reconciliation_by_default():
    settings = Settings(database_url="sqlite://")
    scheduler = build_scheduler(job_table(settings, None), JobRunner(None, "x"))  # type: ignore[arg-type]
    assert str(scheduler.timezone) == "UTC"
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"reconcile", "retry"}  # polling is off unless configured
    assert (
        str(jobs["reconcile"].trigger)
        == "cron[month='*', day='*', day_of_week='*', hour='*', minute='0']"
    )
    assert jobs["reconcile"].max_instances == 1


@pytest.mark.postgres_only
def test_two_scheduler_processes_started_at_once_run_the_slot_once(database_url, engine):
    env = dict(os.environ, DATABASE_URL=database_url, STOCKMIRROR_INSTANCE_PATH="/tmp/sm-none")
    env.pop("STARSHIPIT_API_KEY", None)
    cmd = [sys.executable, "-c", "from app.cli import main; main()", "scheduler", "--once", "retry"]
    cmd += ["--slot", "2026-11-23T12:01:00Z"]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = sorted(p.communicate(timeout=60)[0].strip() for p in procs)

    assert [o.split(" (")[0] for o in outputs] == ["retry: done", "retry: skipped"]
    recorded = runs(engine)
    assert sorted(r.status for r in recorded) == ["done", "skipped"]
    assert len({r.slot for r in recorded}) == 1
    assert len({r.scheduler for r in recorded}) == 2


def test_retry_job_replays_due_order_events_and_says_when_tracking_must_wait(db, engine):
    from app.reconcile.jobs import retry_job

    settings = Settings(database_url=db.url)
    status = JobRunner(db, "a").run("retry", SLOT, lambda: retry_job(settings, db))

    assert status == "done"
    detail = runs(engine)[0].detail
    assert "0 parked/pending order events replayed" in detail
    assert "Starshipit API not configured" in detail


def test_a_manual_run_claims_no_slot_but_still_waits_for_the_jobs_lock(db, engine):
    started, release = threading.Event(), threading.Event()

    def long_job() -> str:
        started.set()
        release.wait(timeout=30)
        return "finished"

    first = threading.Thread(target=lambda: JobRunner(db, "a").run("reconcile", None, long_job))
    first.start()
    started.wait(timeout=30)
    try:
        manual = JobRunner(db, "b").run("reconcile", None, lambda: "x")
    finally:
        release.set()
        first.join()

    assert manual == "skipped"
    assert [(r.scheduler, r.slot, r.status) for r in runs(engine)] == [
        ("a", None, "done"),
        ("b", None, "skipped"),
    ]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM scheduler_slots")).scalar() == 0
