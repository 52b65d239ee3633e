"""Finance in the console: runs, the drift report, notes, repair preview, the CSV."""

from __future__ import annotations

import csv
import io
import re

import pytest
import responses
import sqlalchemy as sa

from app.reconcile import repository as reconcile_repo
from app.reconcile.client import StarshipitClient
from app.reconcile.domain import Drift
from app.reconcile.report import CSV_COLUMNS
from tests.console_helpers import (
    STARSHIPIT_SETTINGS,
    WINDOW,
    csrf_token,
    drifted_run,
    signed_in,
)
from tests.helpers import AUTH, ledger, post_event, shipped_event
from tests.reconcile_fake import FakeStarshipit


@pytest.fixture
def app_overrides():
    return dict(STARSHIPIT_SETTINGS, timezone="Pacific/Auckland")


@pytest.fixture
def starshipit():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeStarshipit(rsps)


@pytest.fixture
def finance(app):
    return signed_in(app, "finance")


def _text(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_report_rows_show_order_sku_quantities_value_and_local_shipped_date(
    client, finance, starshipit
):
    run_id = drifted_run(client, starshipit)

    page = _text(finance.get(f"/reconciliations/{run_id}"))

    assert "=HYPERLINK(&#34;x&#34;)" in page or "=HYPERLINK(&quot;x&quot;)" in page
    assert "Shipped in Starshipit, missing from the ledger" in page
    assert "Shipped quantity differs" in page
    assert "25.00" in page  # 2 units × 12.50
    assert "8.50" in page  # BOWL: 3 − 1 = 2 units × 4.25
    assert "2026-11-20 16:04" in page  # 03:04:05Z in Pacific/Auckland
    assert ".1234567" not in page and "T03:04" not in page
    assert "2 rows shown" in page


def test_report_filters_by_category_sku_and_order_number(client, finance, starshipit):
    run_id = drifted_run(client, starshipit)

    by_category = _text(finance.get(f"/reconciliations/{run_id}?category=quantity_mismatch"))
    by_sku = _text(finance.get(f"/reconciliations/{run_id}?sku=MUG"))
    by_number = _text(finance.get(f"/reconciliations/{run_id}?order_number=N-2"))

    assert "1 row shown" in by_category and "BOWL" in by_category and ">MUG<" not in by_category
    assert "1 row shown" in by_sku and ">MUG<" in by_sku and "BOWL" not in by_sku
    assert "1 row shown" in by_number and "BOWL" in by_number


def test_an_unknown_filter_value_is_refused_not_widened(client, finance, starshipit):
    run_id = drifted_run(client, starshipit)

    response = finance.get(f"/reconciliations/{run_id}?category=typo")

    assert response.status_code == 422
    assert "category" in response.get_data(as_text=True)


def test_ten_thousand_rows_page_sort_and_total(app, client, finance, starshipit):
    run_id = drifted_run(client, starshipit)
    database = app.extensions["stockmirror"].db
    with database.write() as session:
        reconcile_repo.add_drift(
            session,
            run_id,
            [
                Drift(
                    "unexpected_shipment",
                    1000 + n,
                    f"B-{n:05d}",
                    sku=f"S{n % 7}",
                    expected="0",
                    actual=str(n % 5 + 1),
                    detail="bulk",
                )
                for n in range(10_000)
            ],
        )

    first = _text(finance.get(f"/reconciliations/{run_id}"))
    last = _text(finance.get(f"/reconciliations/{run_id}?page=101"))
    by_difference = _text(finance.get(f"/reconciliations/{run_id}?sort=difference&dir=asc"))

    assert "10,002 rows shown" in first and "Page 1 of 101" in first
    assert "B-09999" in last and "Page 101 of 101" in last
    assert "−29,996 units net" in first  # 10,000 rows of −(n % 5 + 1), MUG +2, BOWL +2
    first_row = re.search(r"<tbody> <tr> <td data-label=\"Order\">(.*?)</td>", by_difference).group(
        1
    )
    assert "B-0000" in first_row  # difference −5 first: rows n % 5 == 4


def test_csv_download_with_the_session_parses_with_numbers_as_numbers(client, finance, starshipit):
    run_id = drifted_run(client, starshipit)

    response = finance.get(f"/reconciliations/{run_id}.csv")

    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert f"reconciliation-{run_id}-default-20261119-1300-to-20261122-1300.csv" in disposition
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert list(rows[0]) == list(CSV_COLUMNS)
    mug = next(r for r in rows if r["sku"] == "MUG")
    assert mug["order_number"] == '\'=HYPERLINK("x")'
    assert (mug["starshipit_qty"], mug["ledger_qty"], mug["difference"]) == ("2", "0", "2")
    assert (mug["unit_value"], mug["value"]) == ("12.50", "25.00")
    assert mug["shipped_at"] == "2026-11-20 16:04"
    assert mug["status"] == "Open" and mug["category"].startswith("Shipped in Starshipit")
    api = client.get(f"/api/reconciliations/{run_id}.csv", headers=AUTH)
    assert api.get_data() == response.get_data()


def test_negative_differences_stay_numbers_in_the_csv(app, client, finance, starshipit):
    run_id = drifted_run(client, starshipit)
    event = shipped_event("e3", 3, [("MUG", 5, 5)])
    event["order"]["items"][0]["value"] = "12.50"
    post_event(client, event)
    with app.extensions["stockmirror"].db.write() as session:
        reconcile_repo.add_drift(
            session,
            run_id,
            [
                Drift(
                    "unexpected_shipment",
                    3,
                    "N-3",
                    sku="MUG",
                    expected="0",
                    actual="5",
                    detail="-5 units",
                )
            ],
        )

    text = finance.get(f"/reconciliations/{run_id}.csv").get_data(as_text=True)

    row = next(r for r in csv.reader(io.StringIO(text, newline="")) if r[9] == "'-5 units")
    assert row[3:6] == ["0", "5", "-5"]
    assert row[6:8] == ["12.50", "-62.50"]  # −5 × the mirrored line's value


def test_acknowledge_then_resolve_keeps_who_and_when_and_notes_cannot_be_edited(
    app, client, finance, starshipit, engine
):
    run_id = drifted_run(client, starshipit)
    drift_id = client.get(f"/api/reconciliations/{run_id}", headers=AUTH).json["drift"][0]["id"]
    token = csrf_token(finance, f"/reconciliations/{run_id}/drift/{drift_id}")
    url = f"/reconciliations/{run_id}/drift/{drift_id}"

    assert (
        finance.post(
            url, data={"csrf_token": token, "state": "acknowledged", "note": "looking at it"}
        ).status_code
        == 303
    )
    assert (
        finance.post(
            url, data={"csrf_token": token, "state": "resolved", "note": "label reprinted"}
        ).status_code
        == 303
    )

    page = _text(finance.get(url))
    assert "Acknowledged</strong> by finance@example.com: looking at it" in page
    assert "Resolved</strong> by finance@example.com: label reprinted" in page
    report = _text(finance.get(f"/reconciliations/{run_id}?status=resolved"))
    assert "1 row shown" in report
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text("UPDATE reconciliation_drift_notes SET note = 'edited'"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM reconciliation_drift_notes"))


def test_an_empty_note_is_refused_and_nothing_is_kept(client, finance, starshipit, engine):
    run_id = drifted_run(client, starshipit)
    token = csrf_token(finance, f"/reconciliations/{run_id}")

    response = finance.post(
        f"/reconciliations/{run_id}/drift/1",
        data={"csrf_token": token, "state": "acknowledged", "note": "   "},
    )

    assert response.status_code == 422
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM reconciliation_drift_notes")).scalar() == 0
        )


def test_repair_preview_shows_exactly_the_movements_the_confirmation_posts(
    client, finance, starshipit, engine
):
    run_id = drifted_run(client, starshipit)
    before = ledger(engine)

    preview = _text(finance.get(f"/reconciliations/{run_id}/repair"))

    assert ledger(engine) == before  # a preview changes nothing
    assert "2 movements" in preview and "for 2 orders" in preview
    shown = re.findall(
        r"<td>(MUG|BOWL)</td><td>DEFAULT</td><td>Shipped</td><td class=\"num\">([^<]+)</td>",
        preview.replace("> <", "><"),
    )
    assert sorted(shown) == [("BOWL", "−2"), ("MUG", "−2")]
    rows = re.findall(r'name="row" value="(\d+)"', preview)
    token = csrf_token(finance, f"/reconciliations/{run_id}/repair")
    confirmed = finance.post(
        f"/reconciliations/{run_id}/repair",
        data={"csrf_token": token, "confirm": "yes", "row": rows},
    )

    assert confirmed.status_code == 303
    assert ledger(engine) == {"MUG": before["MUG"] - 2, "BOWL": before["BOWL"] - 2}
    again = _text(finance.get(f"/reconciliations/{run_id}/repair"))
    assert "Nothing to repair" in again
    report = _text(finance.get(f"/reconciliations/{run_id}?status=repaired"))
    assert "2 rows shown" in report


def test_repair_needs_the_confirmation(client, finance, starshipit, engine):
    run_id = drifted_run(client, starshipit)
    before = ledger(engine)
    token = csrf_token(finance, f"/reconciliations/{run_id}")

    response = finance.post(
        f"/reconciliations/{run_id}/repair", data={"csrf_token": token, "row": "1"}
    )

    assert response.status_code == 422
    assert ledger(engine) == before


def test_run_now_starts_a_run_and_lands_on_its_report(client, finance, starshipit):
    from tests.reconcile_fake import full_order

    starshipit.ship(full_order(7, [("MUG", 1, 1)]))
    token = csrf_token(finance, "/reconciliations")

    response = finance.post(
        "/reconciliations/run",
        data={"csrf_token": token, "since": "2026-11-19T00:00", "until": "2026-11-22T00:00"},
    )

    assert response.status_code == 303
    report = _text(finance.get(response.headers["Location"]))
    assert "Shipped in Starshipit, order never received" in report
    listed = _text(finance.get("/reconciliations"))
    assert "2026-11-19 00:00 – 2026-11-22 00:00" in listed
    assert "1 row" in listed


def test_reconciliations_list_shows_counts_value_and_a_chart(client, finance, starshipit):
    drifted_run(client, starshipit)

    page = _text(finance.get("/reconciliations"))

    assert "<svg" in page and "Drift rows per run" in page
    assert "2 rows" in page and "33.50" in page  # 25.00 + 8.50 at stake
    assert "Shipped quantity differs: 1" in page
    assert '<rect class="c2"' in page  # the quantity mismatch bar


def test_resume_continues_a_failed_run_until_it_is_done(client, finance, starshipit, monkeypatch):
    monkeypatch.setattr(StarshipitClient, "_backoff", lambda self, attempt, reason: None)
    starshipit.fault = lambda request: (503, "down") if "shipped" in request.url else None
    failed = client.post("/api/reconciliations", json=WINDOW, headers=AUTH)
    run_id = int(failed.json["id"])
    assert client.get(f"/api/reconciliations/{run_id}", headers=AUTH).json["status"] == "failed"
    starshipit.fault = None
    token = csrf_token(finance, "/reconciliations")

    response = finance.post(f"/reconciliations/{run_id}/resume", data={"csrf_token": token})

    assert response.status_code == 303
    assert client.get(f"/api/reconciliations/{run_id}", headers=AUTH).json["status"] == "done"


def test_resume_of_a_done_run_answers_409_and_changes_nothing(client, finance, starshipit):
    run_id = drifted_run(client, starshipit)
    token = csrf_token(finance, "/reconciliations")

    response = finance.post(f"/reconciliations/{run_id}/resume", data={"csrf_token": token})

    assert response.status_code == 409
    assert client.get(f"/api/reconciliations/{run_id}", headers=AUTH).json["status"] == "done"


def test_a_run_whose_lease_ran_out_shows_interrupted_with_resume_in_the_list_and_on_its_page(
    app, client, finance, starshipit, engine
):
    from datetime import UTC, datetime, timedelta

    from app.reconcile.service import start_run
    from app.timeutil import utcnow

    db = app.extensions["stockmirror"].db
    since = datetime(2026, 11, 19, tzinfo=UTC)
    claim = start_run(
        db, account_id="default", since=since, until=since + timedelta(days=3), trigger="cli"
    )
    with engine.begin() as conn:  # its process was killed: the lease is no longer renewed
        conn.execute(
            sa.text("UPDATE reconciliation_runs SET lease_until = :t"),
            {"t": utcnow() - timedelta(seconds=1)},
        )
    assert client.get(f"/api/reconciliations/{claim.run_id}", headers=AUTH).json["status"] == (
        "interrupted"
    )
    resume_action = f'action="/reconciliations/{claim.run_id}/resume"'

    for path in ("/reconciliations", f"/reconciliations/{claim.run_id}"):
        response = finance.get(path)
        page = _text(response)
        assert "Interrupted" in page, path
        assert ">Running<" not in page and "<progress" not in page, path
        assert resume_action in page, path
        assert 'http-equiv="refresh"' not in page, path

    token = csrf_token(finance, "/reconciliations")
    resumed = finance.post(f"/reconciliations/{claim.run_id}/resume", data={"csrf_token": token})
    assert resumed.status_code == 303
    assert client.get(f"/api/reconciliations/{claim.run_id}", headers=AUTH).json["status"] == (
        "done"
    )
