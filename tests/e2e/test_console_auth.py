"""Console sign-in, sessions, CSRF, roles and headers (CONTRACT §6), over the WSGI app."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from app.users.service import disable_user
from tests.conftest import make_test_app
from tests.console_helpers import (
    PASSWORD,
    STARSHIPIT_SETTINGS,
    csrf_token,
    drifted_run,
    make_user,
    sign_in,
    signed_in,
)
from tests.helpers import AUTH, post_event, shipped_event


@pytest.fixture
def app_overrides():
    return dict(STARSHIPIT_SETTINGS)


def _cookie_header(response) -> str:
    return next(
        v for k, v in response.headers.items() if k == "Set-Cookie" and "stockmirror_session" in v
    )


@pytest.mark.parametrize(
    "path", ["/", "/orders?status=PENDING", "/stock", "/events", "/reconciliations", "/orders/N-1"]
)
def test_anonymous_visit_is_sent_to_the_login_page_with_where_it_was_going(client, path):
    response = client.get(path)

    assert response.status_code in (302, 303)
    assert response.headers["Location"].startswith("/login?next=")
    from urllib.parse import parse_qs, urlsplit

    assert parse_qs(urlsplit(response.headers["Location"]).query)["next"] == [path]


def test_login_form_has_email_password_and_csrf_fields(client):
    page = client.get("/login").get_data(as_text=True)

    assert 'name="email"' in page and 'name="password"' in page and 'name="csrf_token"' in page


def test_good_sign_in_sets_an_httponly_lax_cookie_and_redirects_to_next(app, client):
    make_user(app, "ann@example.com", "finance")
    token = csrf_token(client)

    response = client.post(
        "/login",
        data={
            "email": "Ann@Example.com",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/stock",
        },
    )

    assert response.status_code == 303
    assert response.headers["Location"] == "/stock"
    cookie = _cookie_header(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/stock").status_code == 200


def test_cookies_are_secure_when_configured(database_url, tmp_path):
    app = make_test_app(database_url, tmp_path, secure_cookies=True)
    make_user(app, "ann@example.com", "finance")
    client = app.test_client()
    token = csrf_token(client)

    response = client.post(
        "/login",
        data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": token},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},
    )

    assert response.status_code == 303
    assert "Secure" in _cookie_header(response)
    app.extensions["stockmirror"].db.dispose()


@pytest.mark.parametrize("next_", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_next_never_leaves_the_site(app, client, next_):
    make_user(app, "ann@example.com", "finance")
    token = csrf_token(client)

    response = client.post(
        "/login",
        data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": token, "next": next_},
    )

    assert response.headers["Location"] == "/"


def test_wrong_password_and_unknown_email_get_the_same_answer(app, client):
    make_user(app, "ann@example.com", "finance")

    wrong_password = sign_in(client, "ann@example.com", "not the password")
    unknown_email = sign_in(client, "nobody@example.com", PASSWORD)

    assert wrong_password.status_code == unknown_email.status_code == 401
    for response in (wrong_password, unknown_email):
        assert "The email or password is not right." in response.get_data(as_text=True)
    assert client.get("/").status_code == 303


def test_repeated_failures_are_slowed_even_for_the_right_password(app, client):
    make_user(app, "ann@example.com", "finance")
    for _ in range(5):
        assert sign_in(client, "ann@example.com", "guess").status_code == 401

    refused = sign_in(client, "ann@example.com", PASSWORD)

    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    assert client.get("/").status_code == 303


def test_a_disabled_user_cannot_sign_in(app, client):
    make_user(app, "ann@example.com", "finance")
    disable_user(app.extensions["stockmirror"].db, "ann@example.com")

    assert sign_in(client, "ann@example.com").status_code == 401


def test_logout_ends_the_session_on_the_server_so_a_copied_cookie_stops_working(app):
    browser = signed_in(app, "ops")
    cookie = browser.get_cookie("stockmirror_session").value
    copy = app.test_client()
    copy.set_cookie("stockmirror_session", cookie)
    assert copy.get("/stock").status_code == 200

    token = csrf_token(browser, "/stock")
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 303

    assert copy.get("/stock").status_code == 303


def test_disabling_a_user_ends_their_sessions(app):
    browser = signed_in(app, "ops")
    assert browser.get("/stock").status_code == 200

    disable_user(app.extensions["stockmirror"].db, "ops@example.com")

    assert browser.get("/stock").status_code == 303


def test_every_page_carries_the_security_headers(app):
    browser = signed_in(app, "finance")
    for path in ("/login", "/", "/reconciliations"):
        response = browser.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = browser.get("/").get_data(as_text=True)
    assert "<script>" not in page and " style=" not in page and " onclick=" not in page


def test_a_form_post_without_the_csrf_token_changes_nothing(app, client, engine, starshipit):
    run_id = drifted_run(client, starshipit)
    browser = signed_in(app, "finance")

    response = browser.post(
        f"/reconciliations/{run_id}/drift/1", data={"state": "acknowledged", "note": "seen"}
    )

    assert response.status_code == 400
    with engine.connect() as conn:
        notes = conn.execute(sa.text("SELECT count(*) FROM reconciliation_drift_notes")).scalar()
    assert notes == 0


def test_sign_in_without_the_csrf_token_is_refused(app, client):
    make_user(app, "ann@example.com", "finance")

    response = client.post("/login", data={"email": "ann@example.com", "password": PASSWORD})

    assert response.status_code == 400
    assert client.get("/").status_code == 303


def test_ops_cannot_repair_or_annotate_and_finance_cannot_release(app, client, starshipit):
    run_id = drifted_run(client, starshipit)
    post_event(client, shipped_event("c9", 9, [("MUG", 1, None)], event_type="order_created"))
    ops, finance = signed_in(app, "ops"), signed_in(app, "finance")

    ops_token = csrf_token(ops, "/orders")
    assert ops.get(f"/reconciliations/{run_id}/repair").status_code == 403
    repair = ops.post(
        f"/reconciliations/{run_id}/repair",
        data={"csrf_token": ops_token, "confirm": "yes", "row": "1"},
    )
    assert repair.status_code == 403
    note = ops.post(
        f"/reconciliations/{run_id}/drift/1",
        data={"csrf_token": ops_token, "state": "acknowledged", "note": "x"},
    )
    assert note.status_code == 403

    finance_token = csrf_token(finance, "/orders")
    release = finance.post("/orders/release", data={"csrf_token": finance_token, "order_id": "9"})
    assert release.status_code == 403
    assert client.get("/api/orders/9", headers=AUTH).json["allocation_status"] == "UNALLOCATED"


def test_finance_and_ops_read_every_page(app, client, starshipit):
    run_id = drifted_run(client, starshipit)
    for role in ("finance", "ops", "admin"):
        browser = signed_in(app, role)
        for path in (
            "/",
            "/orders",
            "/orders/N-2",
            "/stock",
            "/stock/MUG",
            "/events",
            "/reconciliations",
            f"/reconciliations/{run_id}",
        ):
            assert browser.get(path).status_code == 200, (role, path)


def test_the_bearer_api_is_unchanged_and_a_session_cookie_does_not_open_it(app):
    browser = signed_in(app, "admin")

    assert browser.get("/api/orders").status_code == 401
    assert browser.get("/api/orders", headers=AUTH).status_code == 200


@pytest.fixture
def starshipit():
    import responses

    from tests.reconcile_fake import FakeStarshipit

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeStarshipit(rsps)


class _Controls(HTMLParser):
    """Form controls a person fills in, and the ids their labels name."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[tuple[str, dict[str, str | None], bool]] = []
        self.label_for: set[str] = set()
        self._in_label = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label":
            self._in_label += 1
            if found.get("for"):
                self.label_for.add(str(found["for"]))
        elif tag in ("input", "select", "textarea") and found.get("type") not in (
            "hidden",
            "submit",
            "button",
        ):
            self.controls.append((tag, found, self._in_label > 0))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._in_label -= 1


def test_every_input_on_every_console_page_has_a_label(app, client, starshipit):
    run_id = drifted_run(client, starshipit)
    admin = signed_in(app, "admin")
    pages = ["/orders", "/orders?allocatable=1", "/orders/N-2", "/stock", "/stock/MUG", "/events"]
    pages += ["/", "/reconciliations", f"/reconciliations/{run_id}"]
    pages += [f"/reconciliations/{run_id}/repair"]
    unlabelled = []
    seen = 0
    for path in pages:
        response = admin.get(path)
        assert response.status_code == 200, path
        parsed = _Controls()
        parsed.feed(response.get_data(as_text=True))
        seen += len(parsed.controls)
        unlabelled += [
            (path, tag, attrs.get("name"))
            for tag, attrs, inside_label in parsed.controls
            if not inside_label
            and attrs.get("id") not in parsed.label_for
            and not attrs.get("aria-label")
            and not attrs.get("aria-labelledby")
        ]
    anonymous = app.test_client()
    parsed = _Controls()
    parsed.feed(anonymous.get("/login").get_data(as_text=True))
    unlabelled += [
        (a.get("name"), t)
        for t, a, inside in parsed.controls
        if not inside and a.get("id") not in parsed.label_for
    ]

    assert seen > 20
    assert unlabelled == []
