"""Exit codes of `stockmirror reconcile|events|scheduler` (CONTRACT §5): 0 ok, 1 something
to act on, 2 usage or configuration, 3 Starshipit or the database unavailable; expected
failures are one `error: ...` line on stderr, never a traceback."""

from __future__ import annotations

import json

import pytest
import responses
import sqlalchemy as sa
from click.testing import CliRunner

from app.cli import main
from app.reconcile.client import StarshipitClient
from app.reconcile.scheduler import JobRunner, slot_for
from tests.helpers import AUTH, post_event, shipped_event
from tests.reconcile_fake import FakeStarshipit, cli_env, full_order

WINDOW = ["--since", "2026-11-19T00:00:00Z", "--until", "2026-11-22T00:00:00Z"]
UNREACHABLE_DB = "postgresql+psycopg://stockmirror:pw@127.0.0.1:1/nowhere"


@pytest.fixture
def env(database_url, tmp_path):
    return cli_env(database_url, tmp_path / "instance")


@pytest.fixture
def starshipit(monkeypatch):
    monkeypatch.setattr(StarshipitClient, "_backoff", lambda self, attempt, reason: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeStarshipit(rsps)


def run(env, *args):
    return CliRunner().invoke(main, list(args), env=env)


def one_error_line(result, text: str) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert text in errors[0], errors[0]
    assert "Traceback" not in result.output


def drift(client, starshipit) -> None:
    client.post(
        "/api/movements",
        json={"sku": "MUG", "quantity": 5, "type": "receipt", "reference": "r1"},
        headers=AUTH,
    )
    post_event(client, shipped_event("e1", 1, [("MUG", 2, None)], event_type="order_created"))
    starshipit.ship(full_order(1, [("MUG", 2, 2)], number="NZ-1"))


def test_reconcile_run_exit_codes(env, client, starshipit):
    assert run(env, "reconcile", "run", *WINDOW).exit_code == 0
    bad = run(env, "reconcile", "run", "--since", "2026-11-22T00:00:00Z", "--until", "2026-11-19")
    assert bad.exit_code == 2
    one_error_line(bad, "since must be before until")
    no_keys = run(env | {"STARSHIPIT_API_KEY": ""}, "reconcile", "run", *WINDOW)
    assert no_keys.exit_code == 2
    one_error_line(no_keys, "not configured")
    denied = env | {"STARSHIPIT_API_KEY": "wrong"}
    starshipit.fault = lambda r: (
        (401, {"statusCode": 401, "message": "Access denied"})
        if r.headers["StarShipIT-Api-Key"] == "wrong"
        else None
    )
    refused = run(denied, "reconcile", "run", *WINDOW)
    assert refused.exit_code == 2
    one_error_line(refused, "Starshipit refused the API keys")
    starshipit.fault = None
    drift(client, starshipit)
    assert run(env, "reconcile", "run", *WINDOW).exit_code == 1


def test_an_unreachable_database_exits_3_without_naming_the_host_or_role(env):
    for args in (
        ("reconcile", "run", *WINDOW),
        ("reconcile", "show", "1"),
        ("reconcile", "repair", "1"),
        ("events", "replay", "--all"),
        ("events", "discard", "e1", "--reason", "x"),
        ("scheduler", "--once", "retry"),
    ):
        result = run(env | {"DATABASE_URL": UNREACHABLE_DB}, *args)
        assert result.exit_code == 3, (args, result.output)
        one_error_line(result, "database unavailable")
        assert "127.0.0.1" not in result.output and "stockmirror" not in result.stderr


def test_an_unknown_account_is_a_configuration_error(env, tmp_path, starshipit):
    accounts = tmp_path / "accounts.json"
    accounts.write_text(
        json.dumps([{"id": "acme", "webhook_secrets": ["s"], "starshipit_api_key": "k"}])
    )
    result = run(env | {"STOCKMIRROR_ACCOUNTS": str(accounts)}, "reconcile", "run", *WINDOW)
    assert result.exit_code == 2
    one_error_line(result, "unknown account 'default' (accounts: acme)")
    broken = run(
        env | {"STOCKMIRROR_ACCOUNTS": str(tmp_path / "none.json")}, "reconcile", "show", "1"
    )
    assert broken.exit_code == 2
    one_error_line(broken, "STOCKMIRROR_ACCOUNTS")


def test_show_lists_the_drifted_orders_and_says_where_the_report_is(env, client, starshipit):
    drift(client, starshipit)
    run(env, "reconcile", "run", *WINDOW)

    shown = run(env, "reconcile", "show", "1")

    assert shown.exit_code == 1, shown.output
    assert "drift rows: 1 (1 not repaired) on 1 orders" in shown.output
    assert "missing_shipment" in shown.output and "NZ-1" in shown.output
    assert "report: GET /api/reconciliations/1" in shown.output
    assert "console: /reconciliations/1" in shown.output
    assert run(env, "reconcile", "repair", "1").exit_code == 0
    assert run(env, "reconcile", "show", "1").exit_code == 0  # everything repaired
    unknown = run(env, "reconcile", "show", "99")
    assert unknown.exit_code == 2
    one_error_line(unknown, "no reconciliation 99")


def test_repair_exit_codes(env, client, starshipit):
    drift(client, starshipit)
    run(env, "reconcile", "run", *WINDOW)
    later = shipped_event("e9", 1, [("MUG", 2, 1)], occurred_at="2099-01-01T00:00:00Z")
    post_event(client, later)  # the mirror learnt more since: the row is left to people

    skipped = run(env, "reconcile", "repair", "1")

    assert skipped.exit_code == 1, skipped.output
    assert "newer information" in skipped.output
    unknown = run(env, "reconcile", "repair", "42")
    assert unknown.exit_code == 2
    one_error_line(unknown, "no reconciliation 42")


def test_a_failed_run_exits_3_and_resume_finishes_it(env, client, starshipit):
    drift(client, starshipit)
    starshipit.down = True
    failed = run(env, "reconcile", "run", *WINDOW)
    assert failed.exit_code == 3
    assert "stockmirror reconcile resume 1" in failed.stderr
    shown = run(env, "reconcile", "show", "1")
    assert shown.exit_code == 1 and "resume: stockmirror reconcile resume 1" in shown.output

    starshipit.down = False
    resumed = run(env, "reconcile", "resume", "1")

    assert resumed.exit_code == 1, resumed.output  # it found the drift
    assert "reconciliation 1: resumed" in resumed.output
    again = run(env, "reconcile", "resume", "1")
    assert again.exit_code == 2
    one_error_line(again, "reconciliation 1 is done")
    assert run(env, "reconcile", "resume", "7").exit_code == 2


def test_scheduler_once_exit_codes(env, engine, starshipit):
    unknown = run(env, "scheduler", "--once", "nope")
    assert unknown.exit_code == 2
    one_error_line(unknown, "unknown job 'nope'")
    assert run(env, "scheduler", "--once", "retry").exit_code == 0
    no_keys = run(env | {"STARSHIPIT_API_KEY": ""}, "scheduler", "--once", "reconcile")
    assert no_keys.exit_code == 2
    one_error_line(no_keys, "reconcile: not configured")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO inbox_events (account_id, event_id, source, event_type, "
                "body_sha256, payload, status, attempts, received_at) VALUES ('default', 'p', "
                "'orders', 'order_shipped', 'x', 'not json', 'parked', 1, '2026-01-01')"
            )
        )
    parked = run(env, "scheduler", "--once", "retry")
    assert parked.exit_code == 1, parked.output
    assert "1 events still parked" in parked.output
    starshipit.down = True
    down = run(env, "scheduler", "--once", "reconcile")
    assert down.exit_code == 3, down.output


def test_once_claims_no_scheduled_slot_so_the_scheduled_run_still_happens(env, app, engine):
    from app.reconcile.jobs import job_table

    first = run(env, "scheduler", "--once", "retry")
    second = run(env, "scheduler", "--once", "retry")
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert "retry: done" in first.output and "retry: done" in second.output

    ctx = app.extensions["stockmirror"]
    trigger, work = job_table(ctx.settings, ctx.db)["retry"]
    from app.timeutil import utcnow

    assert JobRunner(ctx.db, "scheduler").run("retry", slot_for(trigger, utcnow()), work) == "done"
    with engine.connect() as conn:
        slots = conn.execute(sa.text("SELECT count(*) FROM scheduler_slots")).scalar()
        runs = conn.execute(sa.text("SELECT status FROM scheduler_runs ORDER BY id")).scalars()
        assert (slots, list(runs)) == (1, ["done", "done", "done"])


def test_resuming_a_run_that_failed_in_a_clean_window_exits_0(env, starshipit):
    starshipit.down = True
    assert run(env, "reconcile", "run", *WINDOW).exit_code == 3
    starshipit.down = False

    resumed = run(env, "reconcile", "resume", "1")

    assert resumed.exit_code == 0, resumed.output
    assert "drift: 0 (clean)" in resumed.output
