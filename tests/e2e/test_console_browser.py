"""The console in a real browser (headless Chromium with selenium) against a live server,
on the database of this pass (SQLite, or PostgreSQL with TEST_DATABASE_URL). A failing
test saves a screenshot under its tmp_path and prints where."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
import sqlalchemy as sa
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import browser_available, live_server, make_driver
from tests.console_helpers import PASSWORD, STARSHIPIT_SETTINGS, drifted_run, make_user
from tests.helpers import AUTH, ledger, post_event, shipped_event
from tests.reconcile_fake import FakeStarshipit

pytestmark = pytest.mark.skipif(not browser_available(), reason="needs chromium and chromedriver")


@pytest.fixture
def app_overrides():
    return dict(STARSHIPIT_SETTINGS, timezone="Pacific/Auckland")


@pytest.fixture
def starshipit():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru("http://127.0.0.1")
        yield FakeStarshipit(rsps)


@pytest.fixture
def server(app) -> Iterator[str]:
    with live_server(app) as url:
        yield url


@pytest.fixture
def browser(request, tmp_path: Path):
    driver = make_driver(tmp_path)
    driver.implicitly_wait(0)
    yield driver
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot = tmp_path / "failure.png"
        driver.save_screenshot(str(shot))
        print(f"\nscreenshot of the failure: {shot}")
    driver.quit()


def wait(browser, timeout: float = 15) -> WebDriverWait:
    """Wait for a condition; an element of the page being replaced (a form submitted, a
    link followed) is looked up again instead of failing the test."""
    return WebDriverWait(
        browser,
        timeout,
        ignored_exceptions=(StaleElementReferenceException, NoSuchElementException),
    )


def sign_in(browser, server: str, email: str, path: str = "/") -> None:
    browser.get(server + path)
    wait(browser).until(ec.presence_of_element_located((By.NAME, "email")))
    browser.find_element(By.NAME, "email").send_keys(email)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "form.who")))


def page_text(browser) -> str:
    """The page's text once it has loaded (a title can change before the new body is
    in place; reading the old one failed with "Node ... does not belong to the document")."""
    wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")
    return str(wait(browser).until(lambda b: b.find_element(By.TAG_NAME, "body").text))


def test_anonymous_visit_lands_on_the_login_page(browser, server):
    browser.get(server + "/orders?status=PENDING")

    wait(browser).until(ec.presence_of_element_located((By.NAME, "password")))
    assert "/login?next=" in browser.current_url
    assert browser.find_element(By.NAME, "csrf_token").get_attribute("type") == "hidden"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=email]").text == "Email"


def test_finance_reviews_a_report_downloads_it_acknowledges_and_repairs(
    app, client, browser, server, starshipit, engine, tmp_path
):
    run_id = drifted_run(client, starshipit)
    make_user(app, "fin@example.com", "finance")
    sign_in(browser, server, "fin@example.com", "/reconciliations")

    browser.find_element(By.LINK_TEXT, f"#{run_id}").click()
    wait(browser).until(ec.title_contains(f"Reconciliation {run_id}"))
    assert "2 rows shown" in page_text(browser)

    sku = browser.find_element(By.ID, "f-sku")
    sku.send_keys("MUG")
    sku.submit()
    wait(browser).until(lambda b: "1 row shown" in page_text(b))
    assert "BOWL" not in browser.find_element(By.CSS_SELECTOR, "table.drift").text
    assert "25.00" in browser.find_element(By.CSS_SELECTOR, "table.drift").text

    browser.find_element(By.LINK_TEXT, "Download CSV").click()
    downloads = tmp_path / "downloads"
    wait(browser).until(lambda b: [p for p in downloads.glob("*.csv")])
    (saved,) = list(downloads.glob("*.csv"))
    assert saved.name.startswith(f"reconciliation-{run_id}-default-")
    rows = list(csv.DictReader(io.StringIO(saved.read_text(), newline="")))
    assert {r["sku"]: r["difference"] for r in rows} == {"MUG": "2", "BOWL": "2"}

    browser.find_element(By.CSS_SELECTOR, "table.drift a[aria-label^='Review row']").click()
    note = wait(browser).until(ec.presence_of_element_located((By.ID, "note")))
    note.send_keys("Courier confirmed the parcel left")
    browser.find_element(By.CSS_SELECTOR, "button[value=acknowledged]").click()
    wait(browser).until(
        lambda b: "Acknowledged" in b.find_element(By.CSS_SELECTOR, "table.drift").text
    )
    assert "1 row shown" in page_text(browser)  # back on the filtered report

    browser.get(f"{server}/reconciliations/{run_id}")
    browser.find_element(By.LINK_TEXT, "Repair…").click()
    wait(browser).until(lambda b: "would be posted" in page_text(b))
    preview = browser.find_element(By.CSS_SELECTOR, "table.list").text
    assert "MUG" in preview and "BOWL" in preview and "−2" in preview
    before = ledger(engine)
    browser.find_element(By.XPATH, "//button[text()='Post these movements']").click()
    wait(browser).until(lambda b: "Repaired 2 rows on 2 orders" in page_text(b))
    assert ledger(engine) == {"MUG": before["MUG"] - 2, "BOWL": before["BOWL"] - 2}


def test_ops_filters_allocatable_orders_releases_several_and_prints_the_pick_list(
    app, client, browser, server, tmp_path
):
    client.post(
        "/api/movements",
        json={"sku": "MUG", "quantity": 6, "type": "receipt", "reference": "r1"},
        headers=AUTH,
    )
    for n, quantity in ((1, 2), (2, 3), (3, 40)):
        post_event(
            client, shipped_event(f"c{n}", n, [("MUG", quantity, None)], event_type="order_created")
        )
    make_user(app, "ops@example.com", "ops")
    sign_in(browser, server, "ops@example.com", "/orders")

    browser.find_element(By.NAME, "allocatable").click()
    browser.find_element(By.XPATH, "//button[text()='Apply']").click()
    wait(browser).until(lambda b: "Orders that can be fully reserved now" in page_text(b))
    listed = browser.find_element(By.CSS_SELECTOR, "table.list").text
    assert "N-1" in listed and "N-2" in listed and "N-3" not in listed

    browser.find_element(By.CSS_SELECTOR, "input[data-select-all]").click()  # small JS helper
    boxes = browser.find_elements(By.NAME, "order_id")
    assert len(boxes) == 2 and all(b.is_selected() for b in boxes)
    browser.find_element(By.XPATH, "//button[text()='Release selected']").click()
    wait(browser).until(lambda b: "2 orders released" in page_text(b))

    browser.find_element(By.LINK_TEXT, "Pick list for this release").click()
    wait(browser).until(ec.title_contains("Pick list for release"))
    table = browser.find_element(By.CSS_SELECTOR, "table.picks").text
    assert "N-1 ×2" in table and "N-2 ×3" in table
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find_element(By.CSS_SELECTOR, "header.top").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, "table.picks").is_displayed()
    pdf = browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": False})
    assert len(pdf["data"]) > 1000
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_a_form_post_without_the_csrf_token_changes_nothing(
    app, client, browser, server, starshipit, engine
):
    run_id = drifted_run(client, starshipit)
    make_user(app, "fin@example.com", "finance")
    sign_in(browser, server, "fin@example.com", f"/reconciliations/{run_id}/drift/1")
    browser.execute_script(
        "document.querySelectorAll('form.note-form input[name=csrf_token]')"
        ".forEach(function (e) { e.remove(); });"
    )
    browser.find_element(By.ID, "note").send_keys("should not be kept")
    browser.find_element(By.CSS_SELECTOR, "button[value=resolved]").click()

    wait(browser).until(lambda b: "Form expired" in page_text(b))
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM reconciliation_drift_notes")).scalar() == 0
        )


def _forge_post(browser, action: str, fields: dict[str, str]) -> None:
    """Submit a form the page does not offer, with the page's own CSRF token."""
    browser.execute_script(
        """
        var form = document.createElement('form');
        form.method = 'post'; form.action = arguments[0];
        var fields = arguments[1];
        fields.csrf_token = document.querySelector('input[name=csrf_token]').value;
        Object.keys(fields).forEach(function (name) {
          var input = document.createElement('input');
          input.type = 'hidden'; input.name = name; input.value = fields[name];
          form.appendChild(input);
        });
        document.body.appendChild(form); form.submit();
        """,
        action,
        fields,
    )


def test_ops_cannot_repair_and_finance_cannot_release(app, client, browser, server, starshipit):
    run_id = drifted_run(client, starshipit)
    post_event(client, shipped_event("c9", 9, [("MUG", 1, None)], event_type="order_created"))
    make_user(app, "ops@example.com", "ops")
    make_user(app, "fin@example.com", "finance")

    sign_in(browser, server, "ops@example.com", f"/reconciliations/{run_id}")
    assert "Repair…" not in page_text(browser)
    browser.get(f"{server}/reconciliations/{run_id}/repair")
    assert "Not allowed" in page_text(browser)
    _forge_post(browser, f"/reconciliations/{run_id}/repair", {"confirm": "yes", "row": "1"})
    wait(browser).until(lambda b: "Not allowed" in page_text(b) and "/repair" in b.current_url)

    browser.delete_all_cookies()
    sign_in(browser, server, "fin@example.com", "/orders")
    assert "Release selected" not in page_text(browser)
    _forge_post(browser, "/orders/release", {"order_id": "9"})
    wait(browser).until(
        lambda b: "Not allowed" in page_text(b) and "/orders/release" in b.current_url
    )
    assert client.get("/api/orders/9", headers=AUTH).json["allocation_status"] == "UNALLOCATED"


def _phone(tmp_path: Path):
    phone = make_driver(tmp_path / "phone", width=390, height=844)
    phone.implicitly_wait(0)
    # Headless Chromium keeps windows at least 500 px wide: emulate the phone's viewport.
    phone.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    return phone


def _cells_right_edge(phone, table_xpath: str) -> tuple[int, int, float]:
    cells = phone.find_elements(By.XPATH, table_xpath + "//td")
    width = phone.execute_script("return document.documentElement.clientWidth")
    rights = [
        phone.execute_script("return arguments[0].getBoundingClientRect().right", c) for c in cells
    ]
    return width, len(cells), max(rights)


def test_at_390_px_wide_a_skus_stock_by_location_shows_every_figure_without_sideways_scrolling(
    app, client, server, tmp_path
):
    make_user(app, "ops@example.com", "ops")
    client.post(
        "/api/movements",
        json={"sku": "MUG", "quantity": 7, "type": "receipt", "reference": "r1"},
        headers=AUTH,
    )
    phone = _phone(tmp_path)
    try:
        sign_in(phone, server, "ops@example.com", "/stock/MUG")
        wait(phone).until(ec.presence_of_element_located((By.XPATH, "//h2[.='By location']")))
        width, cells, right = _cells_right_edge(phone, "//h2[.='By location']/following::table[1]")
    finally:
        phone.save_screenshot(str(tmp_path / "sku-390.png"))
        phone.quit()

    assert width == 390
    assert cells == 7
    assert right <= width, f"cells end at {right:.0f} px of {width} px"


def test_at_390_px_wide_a_pick_list_shows_every_column_without_sideways_scrolling(
    app, client, server, tmp_path
):
    make_user(app, "ops@example.com", "ops")
    client.post(
        "/api/movements",
        json={"sku": "MUG-LARGE-BLUE", "quantity": 9, "type": "receipt", "reference": "r1"},
        headers=AUTH,
    )
    orders = [f"ORDER-WITH-A-LONG-NUMBER-{n}" for n in (1, 2, 3)]
    for n, number in enumerate(orders, start=1):
        body = shipped_event(f"c{n}", n, [("MUG-LARGE-BLUE", 2, None)], event_type="order_created")
        body["order"]["order_number"] = number
        post_event(client, body)
    release = client.post("/api/releases", json={"order_ids": [1, 2, 3]}, headers=AUTH)
    assert release.status_code == 200, release.json
    phone = _phone(tmp_path)
    try:
        sign_in(
            phone, server, "ops@example.com", f"/releases/{release.json['release_id']}/picklist"
        )
        wait(phone).until(ec.title_contains("Pick list for release"))
        width, cells, right = _cells_right_edge(phone, "//table[contains(@class, 'picks')]")
        page_width = phone.execute_script("return document.documentElement.scrollWidth")
    finally:
        phone.save_screenshot(str(tmp_path / "picklist-390.png"))
        phone.quit()

    assert cells == 6
    assert page_width <= width, f"the page is {page_width} px wide on a {width} px screen"
    assert right <= width, f"cells end at {right:.0f} px of {width} px"
