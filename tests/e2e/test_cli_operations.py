"""Commands for the floor: `orders release`, `picklist`, `locations add`, `secrets generate`."""

from __future__ import annotations

import csv
import io
import re

import pytest
from click.testing import CliRunner

from app.cli import main
from app.config import Settings
from tests.allocation_helpers import create_order, receive
from tests.helpers import AUTH


@pytest.fixture
def app_overrides():
    return {"allocation": "manual"}


def cli(database_url: str, *args: str, allocation: str = "manual"):
    result = CliRunner().invoke(
        main,
        list(args),
        env={"DATABASE_URL": database_url, "STOCKMIRROR_ALLOCATION": allocation},
        prog_name="stockmirror",
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def status_of(client, order_id: int) -> tuple[str, str]:
    body = client.get(f"/api/orders/{order_id}", headers=AUTH).json
    return body["status"], body["allocation_status"]


def release_id_of(result) -> int:
    return int(re.match(r"release (\d+):", result.stdout).group(1))


def test_release_by_id_prints_a_summary_and_exits_1_when_an_order_needs_a_look(
    client, database_url
):
    receive(client, "SKU-A", 4)
    create_order(client, 1, [("SKU-A", 2)], order_date="2026-11-20T01:00:00Z")
    create_order(client, 2, [("SKU-A", 5)], order_date="2026-11-20T02:00:00Z")

    result = cli(database_url, "orders", "release", "1", "2", "999")

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    release_id = release_id_of(result)
    assert lines == [
        f"release {release_id}: 1 released, 1 short, 1 skipped",
        "  short    order 2: SKU-A needs 5, 2 available",
        "  skipped  order 999: order not found",
        f"pick list: stockmirror picklist {release_id}",
    ]
    assert status_of(client, 1) == ("RELEASED", "ALLOCATED")
    assert status_of(client, 2) == ("PENDING", "COULD_NOT_ALLOCATE")


def test_release_allocatable_takes_only_orders_that_fit_and_exits_0(client, database_url):
    receive(client, "SKU-A", 4)
    create_order(client, 1, [("SKU-A", 2)])
    create_order(client, 2, [("SKU-A", 10)])

    result = cli(database_url, "orders", "release", "--allocatable")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"release {release_id_of(result)}: 1 released, 0 short, 0")
    assert status_of(client, 1) == ("RELEASED", "ALLOCATED")
    assert status_of(client, 2)[0] == "PENDING"


def test_release_needs_ids_or_allocatable_and_allocation_switched_on(client, database_url):
    both = cli(database_url, "orders", "release", "1", "--allocatable")
    assert both.exit_code == 2
    assert "give ORDER_IDS or --allocatable" in both.stderr
    off = cli(database_url, "orders", "release", "1", allocation="off")
    assert off.exit_code == 2
    assert off.stderr.startswith("error: allocation is off (STOCKMIRROR_ALLOCATION=off)")


def test_picklist_prints_the_walk_and_a_csv_a_spreadsheet_reads(client, database_url):
    assert cli(database_url, "locations", "add", "A-01", "--kind", "pick_face").exit_code == 0
    assert cli(database_url, "locations", "add", "=B-02", "--sequence", "5").exit_code == 0
    receive(client, "BOLT", 10, location="=B-02")
    receive(client, "NUT", 10, location="A-01")
    create_order(client, 1, [("BOLT", 2), ("NUT", 1)])
    create_order(client, 2, [("BOLT", 3)])
    release_id = release_id_of(cli(database_url, "orders", "release", "1", "2"))

    table = cli(database_url, "picklist", str(release_id))
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].startswith(f"pick list of release {release_id} (2 orders released ")
    assert lines[1].split() == ["location", "sku", "batch", "serial", "quantity", "orders"]
    assert lines[2].split() == ["A-01", "NUT", "1", "N-1", "(1)"]
    assert lines[3].split() == ["=B-02", "BOLT", "5", "N-1", "(2),", "N-2", "(3)"]

    as_csv = cli(database_url, "picklist", str(release_id), "--csv")
    assert as_csv.exit_code == 0
    assert b"\r\n" in as_csv.stdout_bytes  # RFC 4180 line ends
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["location"], r["sku"], r["quantity"], r["orders"]) for r in rows] == [
        ("A-01", "NUT", "1", "N-1 (1)"),
        ("'=B-02", "BOLT", "5", "N-1 (2), N-2 (3)"),  # never run as a formula
    ]

    missing = cli(database_url, "picklist", "999")
    assert missing.exit_code == 2
    assert missing.stderr == "error: release 999 not found in account 'default'\n"


def test_locations_add_creates_a_place_stock_can_be_received_at(client, database_url):
    added = cli(
        database_url, "locations", "add", "SHELF-9", "--kind", "pick_face", "--sequence", "3"
    )
    assert added.exit_code == 0
    assert added.stdout == "location SHELF-9 added: pick_face, warehouse MAIN, sequence 3\n"
    listed = client.get("/api/locations?kind=pick_face", headers=AUTH).json["items"]
    assert [(x["code"], x["sequence"]) for x in listed] == [("SHELF-9", 3)]
    receive(client, "SKU-A", 2, location="SHELF-9")

    again = cli(database_url, "locations", "add", "SHELF-9")
    assert again.exit_code == 2
    assert again.stderr == "error: location 'SHELF-9' already exists\n"
    too_long = cli(database_url, "locations", "add", "X" * 51)
    assert too_long.exit_code == 2
    assert too_long.stderr.startswith("error: code: ")
    wrong_kind = cli(database_url, "locations", "add", "Q-1", "--kind", "attic")
    assert wrong_kind.exit_code == 2
    assert "'attic' is not one of 'pick_face', 'bulk', 'non_sellable'" in wrong_kind.stderr


def test_secrets_generate_prints_fresh_env_lines_stockmirror_accepts():
    first = CliRunner().invoke(main, ["secrets", "generate"])
    second = CliRunner().invoke(main, ["secrets", "generate"])
    assert first.exit_code == 0 and first.stdout != second.stdout
    env = dict(line.split("=", 1) for line in first.stdout.splitlines())
    assert set(env) == {
        "STOCKMIRROR_WEBHOOK_SECRETS",
        "STOCKMIRROR_API_TOKENS",
        "STOCKMIRROR_SECRET_KEY",
    }
    assert re.fullmatch(r"[0-9a-f]{64}", env["STOCKMIRROR_WEBHOOK_SECRETS"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", env["STOCKMIRROR_API_TOKENS"])
    settings = Settings.from_env(env)
    assert settings.webhook_secrets == (env["STOCKMIRROR_WEBHOOK_SECRETS"],)
    assert settings.api_tokens == (env["STOCKMIRROR_API_TOKENS"],)
    assert settings.secret_key == env["STOCKMIRROR_SECRET_KEY"]


def test_a_pick_list_of_one_order_says_1_order_and_1_line_in_the_singular(client, database_url):
    receive(client, "BOLT", 10)
    create_order(client, 1, [("BOLT", 2)])
    release_id = release_id_of(cli(database_url, "orders", "release", "1"))

    table = cli(database_url, "picklist", str(release_id))

    assert table.exit_code == 0
    first = table.stdout.splitlines()[0]
    assert f"pick list of release {release_id} (1 order released " in first
    assert first.endswith("): 1 line")
