"""Reconciliation over HTTP (CONTRACT §4): run, report JSON/CSV/HTML, repair, errors."""

from __future__ import annotations

import csv
import io
import threading

import pytest
import responses

from app.reconcile.report import CSV_COLUMNS
from tests.conftest import make_test_app
from tests.helpers import AUTH, ledger, post_event, shipped_event
from tests.reconcile_fake import API_KEY, BASE, SUB_KEY, FakeStarshipit, full_order

WINDOW = {"since": "2026-11-19T00:00:00Z", "until": "2026-11-22T00:00:00Z"}


@pytest.fixture
def app_overrides():
    return {
        "starshipit_api_url": BASE,
        "starshipit_api_key": API_KEY,
        "starshipit_subscription_key": SUB_KEY,
        "starshipit_rate_limit": 1000.0,
        "reconcile_async": False,
    }


@pytest.fixture
def starshipit():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeStarshipit(rsps)


def drifted_run(client, starshipit) -> int:
    client.post(
        "/api/movements",
        json={"sku": "MUG", "quantity": 5, "type": "receipt", "reference": "r1"},
        headers=AUTH,
    )
    post_event(client, shipped_event("e1", 1, [("MUG", 2, None)], event_type="order_created"))
    starshipit.ship(full_order(1, [("MUG", 2, 2)], number='=HYPERLINK("x")'))
    response = client.post("/api/reconciliations", json=WINDOW, headers=AUTH)
    assert response.status_code == 202
    assert set(response.json) == {"id", "status"}
    return int(response.json["id"])


def test_run_answers_202_and_the_report_has_the_contract_shape(client, starshipit):
    run_id = drifted_run(client, starshipit)

    report = client.get(f"/api/reconciliations/{run_id}", headers=AUTH)

    assert report.status_code == 200
    body = report.json
    assert body["id"] == run_id
    assert body["status"] == "done"
    assert body["window"] == {"since": WINDOW["since"], "until": WINDOW["until"]}
    assert body["started_at"] and body["finished_at"]
    assert body["summary"]["missing_shipment"] == 1
    assert body["api_calls"] == 3
    assert body["drift"] == [
        {
            "id": body["drift"][0]["id"],
            "category": "missing_shipment",
            "order_id": 1,
            "order_number": '=HYPERLINK("x")',
            "sku": "MUG",
            "expected": "2",
            "actual": "0",
            "detail": "Starshipit shipped 2, the ledger recorded none",
            "repairable": True,
            "repaired_at": None,
            "repair_event_id": None,
        }
    ]
    listed = client.get("/api/reconciliations", headers=AUTH).json
    assert [r["id"] for r in listed["items"]] == [run_id]


def test_csv_report_is_rfc4180_with_formula_cells_escaped(client, starshipit):
    run_id = drifted_run(client, starshipit)

    response = client.get(f"/api/reconciliations/{run_id}.csv", headers=AUTH)

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[1][2] == "Shipped in Starshipit, missing from the ledger"
    assert rows[1][0] == '\'=HYPERLINK("x")'
    assert rows[1][3:6] == ["2", "0", "2"]
    assert '"\'=HYPERLINK(""x"")"' in text  # quotes doubled inside a quoted field


def test_html_report_is_readable_and_escapes_starshipit_text(client, starshipit):
    run_id = drifted_run(client, starshipit)

    response = client.get(f"/api/reconciliations/{run_id}.html", headers=AUTH)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert f"Starshipit reconciliation #{run_id}" in page
    assert "1 item need attention" in page
    assert "missing_shipment" in page
    assert "=HYPERLINK(&#34;x&#34;)" in page


def test_repair_over_http_ships_the_missing_units_once(client, starshipit, engine):
    run_id = drifted_run(client, starshipit)

    first = client.post(f"/api/reconciliations/{run_id}/repair", headers=AUTH)
    second = client.post(f"/api/reconciliations/{run_id}/repair", headers=AUTH)

    assert first.status_code == 200
    assert first.json["repaired"] == 1
    assert first.json["skipped"] == []
    assert second.json["repaired"] == 0
    assert ledger(engine) == {"MUG": 3}
    order = client.get("/api/orders/1", headers=AUTH).json
    assert order["status"] == "SHIPPED"
    report = client.get(f"/api/reconciliations/{run_id}", headers=AUTH).json
    assert report["drift"][0]["repair_event_id"] == f"reconcile:{run_id}:{report['drift'][0]['id']}"


def test_unknown_report_is_404(client):
    for path in ("/api/reconciliations/99", "/api/reconciliations/99.csv"):
        assert client.get(path, headers=AUTH).status_code == 404
    assert client.post("/api/reconciliations/99/repair", headers=AUTH).status_code == 404


def test_window_ending_before_it_starts_is_422_naming_the_field(client, engine):
    body = {"since": "2026-11-22T00:00:00Z", "until": "2026-11-19T00:00:00Z"}
    response = client.post("/api/reconciliations", json=body, headers=AUTH)
    assert response.status_code == 422
    assert "since" in response.json["fields"]


def test_bad_time_is_422_naming_the_field(client):
    response = client.post("/api/reconciliations", json={"since": "yesterday"}, headers=AUTH)
    assert response.status_code == 422
    assert "since" in response.json["fields"]


def test_without_starshipit_keys_a_run_answers_503_not_configured(database_url, tmp_path):
    app = make_test_app(database_url, tmp_path)
    response = app.test_client().post("/api/reconciliations", json=WINDOW, headers=AUTH)
    assert response.status_code == 503
    assert "not configured" in response.json["error"]
    app.extensions["stockmirror"].db.dispose()


def test_reports_need_the_bearer_token(client):
    assert client.get("/api/reconciliations/1").status_code == 401


def test_by_default_the_run_continues_in_the_background_after_the_202(
    database_url, tmp_path, starshipit
):
    app = make_test_app(
        database_url,
        tmp_path,
        starshipit_api_url=BASE,
        starshipit_api_key=API_KEY,
        starshipit_subscription_key=SUB_KEY,
        starshipit_rate_limit=1000.0,
    )
    client = app.test_client()
    starshipit.ship(full_order(7, [("MUG", 1, None)]))

    response = client.post("/api/reconciliations", json=WINDOW, headers=AUTH)

    assert response.status_code == 202
    run_id = response.json["id"]
    for thread in threading.enumerate():
        if thread.name == f"reconcile-{run_id}":
            thread.join(timeout=60)
    report = client.get(f"/api/reconciliations/{run_id}", headers=AUTH).json
    assert report["status"] == "done"
    assert report["summary"]["unknown_order"] == 1
    app.extensions["stockmirror"].db.dispose()
