"""Screenshots of every console page with demo data, at 1280 px and 390 px wide.

    .venv/bin/python -m tests.screenshots OUTDIR [--widths 1280,390]

Builds a temporary SQLite database, fills it through the webhooks and the API (and a
reconciliation against the Starshipit stand-in), serves it on a free port and drives
headless Chromium. Used to look at the pages and for docs/img/."""

from __future__ import annotations

import argparse
import base64
import json
import tempfile
from pathlib import Path
from typing import Any

import responses
from selenium.webdriver.common.by import By

from app import create_app
from app.migrate import upgrade
from tests.browser import live_server, make_driver
from tests.console_helpers import PASSWORD, STARSHIPIT_SETTINGS, make_user
from tests.helpers import AUTH, SECRET, TOKEN, post_event, shipped_event
from tests.reconcile_fake import FakeStarshipit, full_order

SKUS = ["MUG-BLUE", "MUG-RED", "BOWL-L", "BOWL-S", "PLATE-26", "TEAPOT", "CUP-SET-4", "TRAY-OAK"]


def _event(
    n: int, items: list[tuple[str, int, int | None]], kind: str, day: int, hour: int
) -> dict[str, Any]:
    body = shipped_event(
        f"{kind}-{n}", n, items, event_type=kind, occurred_at=f"2026-11-{day:02d}T{hour:02d}:30:00Z"
    )
    body["order"]["order_number"] = f"SO-{1000 + n}"
    body["order"]["order_date"] = f"2026-11-{day:02d}T{hour:02d}:00:00Z"
    body["order"]["platform"] = ("Shopify", "eBay", "Amazon")[n % 3]
    for item in body["order"]["items"]:
        item["value"] = "%.2f" % (8 + SKUS.index(item["sku"]) * 3.5)
        item["description"] = item["sku"].replace("-", " ").title()
    return body


def seed(app: Any, rsps: responses.RequestsMock) -> dict[str, Any]:
    client = app.test_client()
    for n, sku in enumerate(SKUS):
        client.post(
            "/api/movements",
            json={
                "sku": sku,
                "quantity": 5 + n * 4,
                "type": "receipt",
                "reference": f"GRN-{200 + n}",
            },
            headers=AUTH,
        )
    for n in range(1, 37):
        items = [(SKUS[n % 8], 1 + n % 3, None)] + (
            [(SKUS[(n + 3) % 8], 2, None)] if n % 4 == 0 else []
        )
        post_event(client, _event(n, items, "order_created", 10 + n % 19, 8 + n % 9))
    for n in (3, 7, 11, 15):
        body = _event(n, [(SKUS[n % 8], 1 + n % 3, 1 + n % 3)], "order_shipped", 29, 9)
        post_event(client, body)
    voided = _event(7, [(SKUS[7], 2, 0)], "order_shipped", 29, 11)
    voided["event_id"] = "shipped-7b"
    voided["order"]["items"][0]["quantity_shipped"] = 1
    post_event(client, voided)
    post_event(client, shipped_event("evt-bad-1", 90, [("MUG-RED", 1, 3)]))
    post_event(client, shipped_event("evt-bad-2", 91, [("TEAPOT", 2, 5)]))
    release = client.post(
        "/api/releases", json={"order_ids": list(range(1, 13))}, headers=AUTH
    ).json
    starshipit = FakeStarshipit(rsps)
    for n in (20, 21, 22):
        order = full_order(n, [(SKUS[n % 8], 1 + n % 3, 1 + n % 3)], number=f"SO-{1000 + n}")
        order["items"][0]["value"] = "%.2f" % (8 + (n % 8) * 3.5)
        order["shipped_date"] = "2026-11-29T03:15:00Z"
        starshipit.ship(order)
    starshipit.ship(full_order(95, [("TRAY-OAK", 2, 2)], number="SO-1095"))
    starshipit.ship(full_order(3, [(SKUS[3], 1 + 3 % 3, 2 + 3 % 3)], number="SO-1003"))
    runs = []
    for since, until in (
        ("2026-11-26", "2026-11-27"),
        ("2026-11-27", "2026-11-28"),
        ("2026-11-28", "2026-11-30"),
    ):
        answer = client.post(
            "/api/reconciliations",
            json={"since": f"{since}T00:00:00Z", "until": f"{until}T00:00:00Z"},
            headers=AUTH,
        )
        runs.append(answer.json["id"])
    for user, role in (("fiona@example.com", "finance"), ("oscar@example.com", "ops")):
        make_user(app, user, role)
    return {"release": release["release_id"], "run": runs[-1]}


def shoot(browser: Any, url: str, out: Path, name: str, width: int) -> None:
    browser.set_window_size(max(width, 500), 900)
    # Headless Chromium keeps windows at least 500 px wide: a narrower width must be
    # emulated, or the shot is a 500 px layout cut at `width`.
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500},
    )
    browser.get(url)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": min(int(height), 5000), "scale": 1},
        },
    )
    (out / f"{name}-{width}.png").write_bytes(base64.b64decode(shot["data"]))


def sign_in(browser: Any, base: str, email: str) -> None:
    browser.delete_all_cookies()
    browser.get(base + "/login")
    browser.find_element(By.NAME, "email").send_keys(email)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--widths", default="1280,390")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sm-shots-"))
    url = f"sqlite:///{work / 'demo.db'}"
    upgrade(url)
    settings = dict(
        STARSHIPIT_SETTINGS,
        database_url=url,
        instance_path=work / "instance",
        webhook_secrets=(SECRET,),
        api_tokens=(TOKEN,),
        timezone="Pacific/Auckland",
    )
    app = create_app(settings)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru("http://127.0.0.1")
        ids = seed(app, rsps)
        browser = make_driver(work)
        try:
            with live_server(app) as base:
                run = ids["run"]
                pages = {
                    "login": "/login",
                    "overview": "/",
                    "orders": "/orders",
                    "orders-allocatable": "/orders?allocatable=1",
                    "order": "/orders/SO-1007",
                    "picklist": f"/releases/{ids['release']}/picklist",
                    "stock": "/stock",
                    "sku": "/stock/MUG-RED",
                    "events": "/events",
                    "reconciliations": "/reconciliations",
                    "report": f"/reconciliations/{run}",
                    "drift": f"/reconciliations/{run}/drift/{_first_drift(app, run)}",
                    "repair": f"/reconciliations/{run}/repair",
                }
                for width in (int(w) for w in args.widths.split(",")):
                    browser.delete_all_cookies()
                    shoot(browser, base + "/login", args.out, "login", width)
                    sign_in(browser, base, "fiona@example.com")
                    for name, path in pages.items():
                        if name != "login":
                            shoot(browser, base + path, args.out, name, width)
                    sign_in(browser, base, "oscar@example.com")
                    shoot(browser, base + "/orders", args.out, "orders-ops", width)
        finally:
            browser.quit()
    print(json.dumps(sorted(p.name for p in args.out.glob("*.png"))))


def _first_drift(app: Any, run_id: int) -> int:
    client = app.test_client()
    drift = client.get(f"/api/reconciliations/{run_id}", headers=AUTH).json["drift"]
    return int(drift[0]["id"]) if drift else 1


if __name__ == "__main__":
    main()
