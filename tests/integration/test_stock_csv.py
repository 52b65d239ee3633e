"""Stock CSV import/export and ledger export, through the CLI and the API (issue 3 §8)."""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner

from app.cli import main
from tests.e2e.inventory_helpers import call, location, ok, product, receive, stock
from tests.helpers import AUTH, ledger, post_event, shipped_event


def run(database_url, *args):
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": database_url})


def write(tmp_path, text, name="stock.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_import_sets_levels_per_location_and_batch_with_one_movement_per_changed_row(
    client, database_url, engine, tmp_path
):
    location(client, "BULK-1")
    product(client, "MILK", tracking="batch")
    receive(client, "GRN-1", [{"sku": "A", "quantity": 5}])
    path = write(
        tmp_path,
        "sku,location,quantity,batch,expiry\n"
        "A,DEFAULT,3,,\n"
        "A,BULK-1,7,,\n"
        "MILK,BULK-1,4,L1,2027-01-31\n",
    )

    result = run(database_url, "stock", "import", str(path))

    assert result.exit_code == 0, result.output
    assert "imported 3 rows: 3 movements" in result.output
    assert ledger(engine) == {"A": 10, "MILK": 4}
    view = stock(client, "MILK")
    assert [(loc["location"], loc["batch"], loc["on_hand"]) for loc in view["locations"]] == [
        ("BULK-1", "L1", 4)
    ]
    moves = ok(call(client, "GET", "/api/movements?type=import"))["items"]
    assert sorted((m["sku"], m["location"], m["quantity"]) for m in moves) == [
        ("A", "BULK-1", 7),
        ("A", "DEFAULT", -2),
        ("MILK", "BULK-1", 4),
    ]


def test_importing_the_same_file_twice_changes_nothing_the_second_time(
    client, database_url, engine, tmp_path
):
    path = write(tmp_path, "sku,location,quantity\nA,DEFAULT,3\n")
    assert run(database_url, "stock", "import", str(path)).exit_code == 0
    post_event(client, shipped_event("e1", 1, [("A", 1, None)]))

    again = run(database_url, "stock", "import", str(path))

    assert again.exit_code == 0
    assert "already imported" in again.output
    assert ledger(engine) == {"A": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sku,location,quantity\nA,DEFAULT,3\nB,NOWHERE,1\n", "row 3: unknown location 'NOWHERE'"),
        (
            "sku,location,quantity\nA,DEFAULT,3\nB,DEFAULT,-1\n",
            "row 3: quantity must not be negative",
        ),
        ("sku,location,quantity\nA,DEFAULT,three\n", "row 2: quantity 'three' is not an integer"),
        ("sku,location,quantity\nA,DEFAULT,1\nA,DEFAULT,2\n", "row 3: duplicate of row 2"),
        ("sku,quantity\nA,1\n", "row 1: header lacks column(s) location"),
        ("sku,location,quantity\nA,DEFAULT,1,extra\n", "row 2: more fields than the header"),
        (
            "sku,location,quantity\nMILK,DEFAULT,1\n",
            "row 2: MILK is batch-tracked: batch is required",
        ),
        (
            "sku,location,quantity,batch\nCAM,DEFAULT,1,S1\n",
            "row 2: serial S1 of CAM would be on hand twice",
        ),
        ('sku,location,quantity\n"A,DEFAULT,1\n', "row"),
    ],
)
def test_a_bad_row_rejects_the_whole_file_naming_the_row_and_the_reason(
    client, database_url, engine, tmp_path, text, message
):
    location(client, "BULK-1")
    product(client, "MILK", tracking="batch")
    product(client, "CAM", tracking="serial")
    receive(client, "GRN-1", [{"sku": "CAM", "quantity": 1, "serials": ["S1"]}], location="BULK-1")
    before = ledger(engine)

    result = run(database_url, "stock", "import", str(write(tmp_path, text)))

    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "nothing was imported" in result.output
    assert ledger(engine) == before


def test_stock_export_round_trips_through_import(client, database_url, engine, tmp_path):
    location(client, "BULK-1")
    product(client, "MILK", tracking="batch")
    receive(client, "GRN-1", [{"sku": "A", "quantity": 5}, {"sku": "=CMD", "quantity": 1}])
    receive(
        client,
        "GRN-2",
        [{"sku": "MILK", "quantity": 2, "batch": "L1", "expiry": "2027-01-31"}],
        location="BULK-1",
    )

    exported = run(database_url, "stock", "export")

    assert exported.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert [(r["sku"], r["location"], r["batch"], r["quantity"], r["expiry"]) for r in rows] == [
        ("'=CMD", "DEFAULT", "", "1", ""),
        ("A", "DEFAULT", "", "5", ""),
        ("MILK", "BULK-1", "L1", "2", "2027-01-31"),
    ]
    plain = "\n".join(line for line in exported.output.splitlines() if "CMD" not in line)
    result = run(database_url, "stock", "import", str(write(tmp_path, plain + "\n")))
    assert result.exit_code == 0, result.output
    assert "0 movements" in result.output


def test_ledger_export_lists_every_movement_with_its_cause(client, database_url):
    receive(client, "GRN-1", [{"sku": "A", "quantity": 5}])
    post_event(client, shipped_event("e1", 1, [("A", 2, None)]))

    result = run(database_url, "ledger", "export")

    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["sku"], r["quantity"], r["type"], r["reference"], r["event_id"]) for r in rows] == [
        ("A", "5", "receipt", "GRN-1", ""),
        ("A", "-2", "shipment", "N-1", "e1"),
    ]


def test_the_api_imports_and_exports_csv_too(client, engine):
    bad = client.post(
        "/api/stock/import",
        data="sku,location,quantity\nA,DEFAULT,1\nB,X,1\n",
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert bad.status_code == 422
    assert bad.get_json()["rows"] == [{"row": 3, "error": "unknown location 'X'"}]
    good = client.post(
        "/api/stock/import",
        data="sku,location,quantity\nA,DEFAULT,4\n",
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert ok(good)["movements"] == 1
    exported = client.get("/api/stock.csv", headers=AUTH)
    assert exported.mimetype == "text/csv"
    assert exported.get_data(as_text=True).splitlines()[1] == "A,DEFAULT,,,4,0,4"
    assert client.get("/api/ledger.csv", headers=AUTH).get_data(as_text=True).count("\n") == 2
    assert ledger(engine) == {"A": 4}
