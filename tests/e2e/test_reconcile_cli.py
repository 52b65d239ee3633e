"""`stockmirror reconcile run|repair`: progress, printed summary, exit codes for cron."""

from __future__ import annotations

import pytest
import responses
from click.testing import CliRunner

from app.cli import main
from app.reconcile.client import StarshipitClient
from tests.helpers import AUTH, post_event, shipped_event
from tests.reconcile_fake import API_KEY, BASE, SUB_KEY, FakeStarshipit, full_order

WINDOW = ["--since", "2026-11-19T00:00:00Z", "--until", "2026-11-22T00:00:00Z"]


@pytest.fixture
def env(database_url, tmp_path):
    return {
        "DATABASE_URL": database_url,
        "STOCKMIRROR_INSTANCE_PATH": str(tmp_path / "instance"),
        "STARSHIPIT_API_URL": BASE,
        "STARSHIPIT_API_KEY": API_KEY,
        "STARSHIPIT_SUBSCRIPTION_KEY": SUB_KEY,
        "STARSHIPIT_RATE_LIMIT": "1000",
    }


@pytest.fixture
def starshipit():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeStarshipit(rsps)


def test_clean_window_prints_a_summary_and_exits_0(env, starshipit):
    result = CliRunner().invoke(main, ["reconcile", "run", *WINDOW], env=env)
    assert result.exit_code == 0, result.output
    assert "drift: 0 (clean)" in result.output
    assert API_KEY not in result.output


def test_drift_exits_1_and_repair_then_fixes_it(env, starshipit, client):
    receipt = {"sku": "MUG", "quantity": 5, "type": "receipt", "reference": "r1"}
    assert client.post("/api/movements", json=receipt, headers=AUTH).status_code == 201
    post_event(client, shipped_event("e1", 1, [("MUG", 2, None)], event_type="order_created"))
    starshipit.ship(full_order(1, [("MUG", 2, 2)]))

    result = CliRunner().invoke(main, ["reconcile", "run", *WINDOW], env=env)

    assert result.exit_code == 1, result.output
    assert "missing_shipment: 1" in result.output
    run_id = result.output.split()[1].rstrip(":")
    repaired = CliRunner().invoke(main, ["reconcile", "repair", run_id], env=env)
    assert repaired.exit_code == 0, repaired.output
    assert "repaired 1 rows on 1 orders" in repaired.output
    again = CliRunner().invoke(main, ["reconcile", "run", *WINDOW], env=env)
    assert again.exit_code == 0, again.output


def test_unreachable_starshipit_exits_3_with_one_error_line(env, starshipit, monkeypatch):
    # Starshipit's faults are retried with backoff first; the test skips the waiting
    monkeypatch.setattr(StarshipitClient, "_backoff", lambda self, attempt, reason: None)
    starshipit.down = True
    result = CliRunner().invoke(main, ["reconcile", "run", *WINDOW], env=env)
    assert result.exit_code == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Starshipit unavailable" in errors[0]
    assert "Traceback" not in result.output


def test_bad_since_is_a_usage_error(env):
    result = CliRunner().invoke(main, ["reconcile", "run", "--since", "soon"], env=env)
    assert result.exit_code == 2
    assert "not an RFC 3339 time" in result.output
