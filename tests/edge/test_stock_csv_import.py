"""Stock CSV import as people write CSV, and as attackers send it: headers in any order
and case with aliases, `;` or `,`, a BOM, every error at once with a hint, multipart
uploads, chunked bodies over the limit, and inputs large enough that quadratic work or a
parameter limit would fail."""

from __future__ import annotations

import csv
import io
import time

import pytest
import sqlalchemy as sa

from app.db import Database
from app.ledger.csvio import ImportRejected, import_stock, parse_stock_csv
from tests.conftest import PG_URL
from tests.e2e.inventory_helpers import call, location, ok
from tests.helpers import AUTH, ledger
from tests.live import chunked_post, live_server

CSV_HEADERS = {**AUTH, "Content-Type": "text/csv"}


def upload(client, text: str | bytes, headers=CSV_HEADERS):
    return client.post("/api/stock/import", data=text, headers=headers)


@pytest.mark.parametrize(
    "text",
    [
        "SKU,Location,Qty\nA,DEFAULT,3\nB,DEFAULT,4\n",
        "qty;sku;bin\n3;A;DEFAULT\n4;B;DEFAULT\n",
        "\ufeffProduct Code , On-Hand ,LOCATION\r\nA,3,DEFAULT\r\nB,4,DEFAULT\r\n",
        "Item;Place;Count;Lot;Expires\nA;DEFAULT;3;;\nB;DEFAULT;4;;\n\n",
    ],
    ids=["title case", "semicolons and aliases", "BOM, spaces, CRLF", "more aliases"],
)
def test_csv_as_people_write_it_imports(client, engine, text):
    body = ok(upload(client, text))
    assert body["rows"] == 2
    assert ledger(engine) == {"A": 3, "B": 4}


def test_every_error_of_every_row_is_reported_at_once_with_a_hint_for_locations(client, engine):
    text = (
        "sku,location,quantity\n"
        "A,DEFAULT,-1\n"
        "B,NOWHERE,1\n"
        "   ,DEFAULT,x\n"
        "C,ALSO-MISSING,2\n"
        "D\x00,DEFAULT,1\n"
    )
    response = upload(client, text)
    assert response.status_code == 422
    body = response.get_json()
    by_row: dict[int, list[str]] = {}
    for r in body["rows"]:
        by_row.setdefault(r["row"], []).append(r["error"])
    assert by_row[2] == ["quantity must not be negative"]
    assert by_row[3] == ["unknown location 'NOWHERE'"]
    assert sorted(by_row[4]) == ["quantity 'x' is not an integer", "sku is empty"]
    assert by_row[5] == ["unknown location 'ALSO-MISSING'"]
    assert by_row[6] == ["sku must not contain NUL characters"]
    assert "stockmirror locations add" in body["hint"]
    assert "POST /api/locations" in body["hint"]
    assert ledger(engine) == {}


def test_the_cli_prints_every_error_and_the_hint(database_url, tmp_path):
    from click.testing import CliRunner

    from app.cli import main

    path = tmp_path / "stock.csv"
    path.write_text("sku,location,quantity\nA,NOWHERE,1\nB,DEFAULT,-2\n")
    result = CliRunner().invoke(
        main, ["stock", "import", str(path)], env={"DATABASE_URL": database_url}
    )
    assert result.exit_code == 1
    assert "row 2: unknown location 'NOWHERE'" in result.output
    assert "row 3: quantity must not be negative" in result.output
    assert "hint:" in result.output and "locations add" in result.output


def test_a_multipart_upload_is_imported_like_a_text_csv_body(client, engine):
    data = {"file": (io.BytesIO(b"sku,location,quantity\nA,DEFAULT,7\n"), "stock.csv")}
    response = client.post(
        "/api/stock/import", data=data, headers=AUTH, content_type="multipart/form-data"
    )
    assert ok(response)["movements"] == 1
    assert ledger(engine) == {"A": 7}


def test_a_multipart_form_without_a_file_is_422_naming_it(client):
    response = client.post(
        "/api/stock/import", data={"x": "1"}, headers=AUTH, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "file" in response.get_json()["fields"]


def test_the_export_imports_back_to_the_same_levels(client, engine):
    location(client, "BULK-1")
    ok(upload(client, "sku,location,quantity\nA,DEFAULT,5\nA,BULK-1,2\nB,BULK-1,9\n"))
    exported = client.get("/api/stock.csv", headers=AUTH).get_data(as_text=True)
    header = next(csv.reader(io.StringIO(exported)))
    assert header[:3] == ["sku", "location", "batch"]
    call(
        client,
        "POST",
        "/api/movements",
        {"sku": "A", "quantity": -5, "type": "adjustment", "reference": "oops"},
    )
    assert ledger(engine)["A"] == 2
    ok(upload(client, exported))
    assert ledger(engine) == {"A": 7, "B": 9}


def test_a_header_cell_over_128_kib_is_a_422_not_a_crash(client):
    response = upload(client, "sku,location,quantity," + "x" * (140 * 1024) + "\nA,DEFAULT,1\n")
    assert response.status_code == 422
    assert response.get_json()["rows"][0]["row"] == 1


def test_a_quantity_beyond_int32_is_refused_per_row(client):
    response = upload(client, f"sku,location,quantity\nA,DEFAULT,{2**31}\n")
    assert response.status_code == 422
    assert "at most 2147483647" in response.get_json()["rows"][0]["error"]


def test_a_chunked_csv_over_one_mebibyte_is_413_and_nothing_is_applied(app, engine):
    rows = b"".join(b"S%06d,DEFAULT,100\n" % i for i in range(70_000))
    body = b"sku,location,quantity\n" + rows
    assert len(body) > 1024 * 1024
    with live_server(app) as base:
        status, _ = chunked_post(base, "/api/stock/import", body, CSV_HEADERS)
        small_status, _ = chunked_post(
            base, "/api/stock/import", b"sku,location,quantity\nA,DEFAULT,5\n", CSV_HEADERS
        )
    assert status == 413
    assert small_status == 200  # a chunked body within the limit is read whole
    assert ledger(engine) == {"A": 5}


def test_a_chunked_webhook_over_one_mebibyte_is_413_not_401(app, engine):
    from app.webhooks.signature import sign
    from tests.helpers import SECRET

    raw = b'{"padding": "' + b"x" * (1100 * 1024) + b'"}'
    headers = {"Content-Type": "application/json", "X-Starshipit-Signature": sign(SECRET, raw)}
    with live_server(app) as base:
        status, _ = chunked_post(base, "/webhooks/starshipit/orders", raw, headers)
    assert status == 413
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM inbox_events")).scalar_one() == 0


def test_a_large_import_is_linear_and_a_second_run_is_a_no_op(database_url):
    # 40,000 rows: the quadratic importer needed well over a minute for this (24k took
    # 28 s); a linear one takes a few seconds. Timing is printed, not asserted.
    n = 40_000
    text = "sku,location,quantity\n" + "".join(f"S{i:06d},DEFAULT,{i % 7 + 1}\n" for i in range(n))
    db = Database(database_url)
    try:
        started = time.perf_counter()
        result = import_stock(db, text, actor="test")
        print(f"imported {n} rows in {time.perf_counter() - started:.1f}s")
        assert (result.rows, result.movements) == (n, n)
        again = import_stock(db, text, actor="test")
        assert again.already_imported and again.movements == 0
    finally:
        db.dispose()


@pytest.mark.postgres_only
def test_more_distinct_skus_than_postgresql_parameters_import_in_chunks(database_url):
    n = 70_000  # over the 65,535 bind parameters one PostgreSQL statement may carry
    text = "sku,location,quantity\n" + "".join(f"P{i:06d},DEFAULT,1\n" for i in range(n))
    db = Database(database_url)
    try:
        assert import_stock(db, text, actor="test").movements == n
    finally:
        db.dispose()
    assert PG_URL


def test_an_error_found_late_rejects_the_whole_file(database_url):
    text = "sku,location,quantity\n" + "".join(f"S{i:05d},DEFAULT,1\n" for i in range(5000))
    text += "LAST,NOWHERE,1\n"
    db = Database(database_url)
    try:
        with pytest.raises(ImportRejected) as rejected:
            import_stock(db, text, actor="test")
        assert [e.line for e in rejected.value.errors] == [5002]
        with db.read() as session:
            moved = session.execute(sa.text("SELECT COUNT(*) FROM stock_movements")).scalar_one()
        assert moved == 0
    finally:
        db.dispose()


def test_parse_reports_unknown_and_missing_header_columns_together():
    _, errors = parse_stock_csv("sku,colour\nA,red\n")
    messages = [str(e) for e in errors]
    assert "row 1: unknown column(s) colour" in messages
    assert "row 1: header lacks column(s) location, quantity" in messages
