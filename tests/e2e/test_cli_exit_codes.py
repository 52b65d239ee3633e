"""Exit codes of every command (CONTRACT §5): 0 success; 1 something to act on; 2 usage
or configuration; 3 Starshipit or the database unavailable — with one `error:` line on
stderr and never a traceback for an expected failure."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app.cli import main
from tests.live import StarshipitServer, free_port

UNREACHABLE_DB = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"


def run(args: list[str], **env: str | None):
    result = CliRunner().invoke(main, args, env=env, prog_name="stockmirror")
    # An expected failure is an exit with a code, never an exception escaping the command.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def one_error_line(result, starts: str) -> None:
    """The failure is said in one `error:` line, the last on stderr; no traceback."""
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert errors[0].startswith(f"error: {starts}"), errors[0]
    assert "Traceback" not in result.output


def test_help_and_unknown_commands(database_url):
    assert run(["--help"]).exit_code == 0
    unknown = run(["frobnicate"])
    assert unknown.exit_code == 2
    one_error_line(unknown, "No such command 'frobnicate'.")
    assert "see 'stockmirror --help'" in unknown.stderr


def test_db_upgrade_exit_codes(tmp_path):
    assert run(["db", "upgrade"], DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}").exit_code == 0
    down = run(["db", "upgrade"], DATABASE_URL=UNREACHABLE_DB)
    assert down.exit_code == 3
    one_error_line(down, "database unavailable: ")
    assert "SELECT" not in down.stderr and "[SQL" not in down.stderr
    nonsense = run(["db", "upgrade"], DATABASE_URL="not a url")
    assert nonsense.exit_code == 2
    one_error_line(nonsense, "DATABASE_URL is not a database URL")
    bad = run(["db", "upgrade"], DATABASE_URL=f"sqlite:///{tmp_path / 'b.db'}",
              STOCKMIRROR_NEGATIVE_STOCK="sometimes")  # fmt: skip
    assert bad.exit_code == 2
    one_error_line(bad, "STOCKMIRROR_NEGATIVE_STOCK must be one of flag, block")


def test_stock_import_and_export_exit_codes(database_url, tmp_path):
    good = tmp_path / "stock.csv"
    good.write_text("sku,location,quantity\nSKU-A,DEFAULT,5\n")
    assert run(["stock", "import", str(good)], DATABASE_URL=database_url).exit_code == 0
    missing = run(["stock", "import", str(tmp_path / "nope.csv")], DATABASE_URL=database_url)
    assert missing.exit_code == 2
    one_error_line(missing, "Invalid value for 'FILE'")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("sku,location,quantity\nCAF\xc9,DEFAULT,1\n".encode("latin-1"))
    assert run(["stock", "import", str(latin)], DATABASE_URL=database_url).exit_code == 2
    down = run(["stock", "import", str(good)], DATABASE_URL=UNREACHABLE_DB)
    assert down.exit_code == 3
    one_error_line(down, "database unavailable")

    exported = run(["stock", "export"], DATABASE_URL=database_url)
    assert exported.exit_code == 0
    assert exported.stdout.splitlines()[1].startswith("SKU-A,DEFAULT,")
    assert run(["stock", "export"], DATABASE_URL=UNREACHABLE_DB).exit_code == 3


def test_ledger_verify_and_export_exit_codes(database_url):
    verified = run(["ledger", "verify"], DATABASE_URL=database_url)
    assert verified.exit_code == 0
    assert "0 differences" in verified.stdout
    assert run(["ledger", "export"], DATABASE_URL=database_url).exit_code == 0
    for command in (["ledger", "verify"], ["ledger", "export"]):
        down = run(command, DATABASE_URL=UNREACHABLE_DB)
        assert down.exit_code == 3, command
        one_error_line(down, "database unavailable")


def test_scheduler_once_exit_codes(database_url):
    assert run(["scheduler", "--once", "retry"], DATABASE_URL=database_url).exit_code == 0
    unknown = run(["scheduler", "--once", "tidy"], DATABASE_URL=database_url)
    assert unknown.exit_code == 2
    one_error_line(unknown, "unknown job 'tidy'; jobs: reconcile, retry")
    unconfigured = run(["scheduler", "--once", "reconcile"], DATABASE_URL=database_url)
    assert unconfigured.exit_code == 2
    one_error_line(unconfigured, "reconcile: not configured")
    down = run(["scheduler", "--once", "retry"], DATABASE_URL=UNREACHABLE_DB)
    assert down.exit_code == 3
    one_error_line(down, "database unavailable")


def test_scheduler_once_says_when_starshipit_refuses_the_keys_or_cannot_be_reached(databases):
    database_url = databases.fresh()
    with StarshipitServer("right-key", "right-sub") as starshipit:
        refused = run(
            ["scheduler", "--once", "reconcile"],
            DATABASE_URL=database_url,
            STARSHIPIT_API_URL=starshipit.url,
            STARSHIPIT_API_KEY="wrong-key",
            STARSHIPIT_SUBSCRIPTION_KEY="wrong-sub",
        )
    assert refused.exit_code == 2
    one_error_line(refused, "Starshipit refused the API keys")
    assert "wrong-key" not in refused.output
    database_url = databases.fresh()  # a new hour's slot, whatever the clock says
    unreachable = run(
        ["scheduler", "--once", "reconcile"],
        DATABASE_URL=database_url,
        STARSHIPIT_API_URL=f"http://127.0.0.1:{free_port()}",
        STARSHIPIT_API_KEY="k" * 10,
        STARSHIPIT_SUBSCRIPTION_KEY="s" * 10,
        STARSHIPIT_TIMEOUT="2",
    )
    assert unreachable.exit_code == 3
    one_error_line(unreachable, "Starshipit unavailable")


@pytest.mark.parametrize(
    "args",
    [["orders", "release"], ["picklist", "abc"], ["locations", "add"], ["stock", "import"]],
)
def test_usage_errors_are_one_line_and_exit_2(args, database_url):
    result = run(args, DATABASE_URL=database_url)
    assert result.exit_code == 2
    one_error_line(result, "")
    assert "--help" in result.stderr
