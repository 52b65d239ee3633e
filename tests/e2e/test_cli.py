"""The `stockmirror` console script and the first-run experience."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from app.cli import main
from app.config import Settings
from app.instance import ensure_secrets
from app.migrate import head_revision
from tests.helpers import post_event, shipped_event

ROOT = Path(__file__).resolve().parents[2]


def test_db_upgrade_migrates_an_empty_database_to_head(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    assert version == head_revision()


def test_events_replay_all_reports_each_event_and_fails_while_parked(client, database_url):
    post_event(client, shipped_event("bad", 1, [("SKU-A", 1, 4)]))
    result = CliRunner().invoke(
        main, ["events", "replay", "--all"], env={"DATABASE_URL": database_url}
    )
    assert result.exit_code == 1
    assert "bad: parked" in result.output
    assert "exceeds" in result.output


def test_events_replay_of_unknown_event_is_a_clear_error(client, database_url):
    result = CliRunner().invoke(
        main, ["events", "replay", "missing"], env={"DATABASE_URL": database_url}
    )
    assert result.exit_code == 2
    assert "no event 'missing'" in result.output


def test_first_run_generates_secrets_once_and_prints_them_once(tmp_path, capsys):
    additions = ensure_secrets(tmp_path, {})
    printed = capsys.readouterr().out
    assert set(additions) == {"STOCKMIRROR_WEBHOOK_SECRETS", "STOCKMIRROR_API_TOKENS"}
    assert additions["STOCKMIRROR_WEBHOOK_SECRETS"] in printed
    assert ensure_secrets(tmp_path, {}) == additions
    assert capsys.readouterr().out == ""
    assert oct((tmp_path / "secrets.json").stat().st_mode & 0o777) == "0o600"
    settings = Settings.from_env({"STOCKMIRROR_INSTANCE_PATH": str(tmp_path)})
    assert settings.webhook_secrets == (additions["STOCKMIRROR_WEBHOOK_SECRETS"],)
    env_wins = Settings.from_env(
        {"STOCKMIRROR_INSTANCE_PATH": str(tmp_path), "STOCKMIRROR_API_TOKENS": "a,b"}
    )
    assert env_wins.api_tokens == ("a", "b")


def test_bad_settings_are_refused_with_the_variable_named():
    import pytest

    from app.config import ConfigError

    with pytest.raises(ConfigError, match="STOCKMIRROR_ALLOCATION"):
        Settings.from_env({"STOCKMIRROR_ALLOCATION": "sometimes"})
    with pytest.raises(ConfigError, match="STOCKMIRROR_NEGATIVE_STOCK"):
        Settings.from_env({"STOCKMIRROR_NEGATIVE_STOCK": "ignore"})
    with pytest.raises(ConfigError, match="STARSHIPIT_RATE_LIMIT"):
        Settings.from_env({"STARSHIPIT_RATE_LIMIT": "fast"})
