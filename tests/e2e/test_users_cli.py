"""`stockmirror users add|list|disable` (CONTRACT §5, §6): exit codes and one-line errors."""

from __future__ import annotations

import stat

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from app.cli import main
from app.config import ConfigError, Settings
from app.instance import ensure_secret_key
from tests.console_helpers import sign_in


def run(database_url: str, *args: str, stdin: str | None = None):
    return CliRunner().invoke(
        main, ["users", *args], input=stdin, env={"DATABASE_URL": database_url}
    )


def test_add_list_and_disable_a_user(database_url, engine):
    added = run(
        database_url,
        "add",
        "Fiona@Example.com",
        "--role",
        "finance",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    listed = run(database_url, "list")
    disabled = run(database_url, "disable", "fiona@example.com")

    assert added.exit_code == 0 and "added fiona@example.com (finance)" in added.output
    assert listed.exit_code == 0 and "fiona@example.com\tfinance\tactive" in listed.output
    assert disabled.exit_code == 0
    assert "fiona@example.com\tfinance\tdisabled" in run(database_url, "list").output
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM users")).scalar_one()
    assert stored.startswith("$argon2id$") and "a long enough password" not in stored


def test_the_added_password_signs_in_with_the_trailing_newline_dropped(app, database_url):
    run(
        database_url,
        "add",
        "ops@example.com",
        "--role",
        "ops",
        "--password-stdin",
        stdin="warehouse password\n",
    )

    assert sign_in(app.test_client(), "ops@example.com", "warehouse password").status_code == 303


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["add", "not-an-email", "--role", "ops", "--password-stdin"],
            "long password here\n",
            "is not an email address",
        ),
        (["add", "a@example.com", "--role", "ops", "--password-stdin"], "short\n", "at least 10"),
        (["disable", "nobody@example.com"], None, "no user nobody@example.com"),
        (["add", "a@example.com", "--role", "ops"], "", "--password-stdin"),
    ],
)
def test_expected_failures_exit_2_with_one_line(database_url, args, stdin, message):
    result = run(database_url, *args, stdin=stdin)

    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith("error: ") and message in result.output


def test_adding_an_existing_user_exits_2(database_url):
    for _ in range(2):
        result = run(
            database_url,
            "add",
            "a@example.com",
            "--role",
            "ops",
            "--password-stdin",
            stdin="long password here\n",
        )
    assert result.exit_code == 2 and "already exists" in result.output


def test_an_unknown_role_is_a_usage_error(database_url):
    result = run(
        database_url,
        "add",
        "a@example.com",
        "--role",
        "boss",
        "--password-stdin",
        stdin="long password here\n",
    )
    assert result.exit_code == 2


def test_an_unreachable_database_exits_3_with_one_line():
    result = run("postgresql+psycopg://nobody@127.0.0.1:1/none", "list")

    assert result.exit_code == 3
    assert result.output == "error: the database is unavailable\n"


def test_the_session_key_is_generated_once_and_kept_private(tmp_path):
    first = ensure_secret_key(tmp_path / "instance")
    again = ensure_secret_key(tmp_path / "instance")

    assert first == again and len(first) >= 40
    mode = (tmp_path / "instance" / "console_secret_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_timezone_and_secure_cookie_settings_are_checked():
    assert (
        Settings.from_env({"STOCKMIRROR_TIMEZONE": "Pacific/Auckland"}).timezone
        == "Pacific/Auckland"
    )
    assert Settings.from_env({"STOCKMIRROR_SECURE_COOKIES": "1"}).secure_cookies is True
    with pytest.raises(ConfigError, match="STOCKMIRROR_TIMEZONE"):
        Settings.from_env({"STOCKMIRROR_TIMEZONE": "Mars/Olympus"})
    with pytest.raises(ConfigError, match="STOCKMIRROR_SECURE_COOKIES"):
        Settings.from_env({"STOCKMIRROR_SECURE_COOKIES": "maybe"})
