"""Pure rules of the console: roles, emails, the login throttle, drift money facts,
how numbers and counts read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.console.format import money, number, plain, plural, signed
from app.reconcile.valuation import Facts, category_words, check_note, drift_facts, unit_value
from app.users.domain import UserError, check_password, may_act, normal_email, retry_in, wait_after


@pytest.mark.parametrize(
    ("role", "area", "allowed"),
    [
        ("finance", "reconciliations", True),
        ("finance", "orders", False),
        ("finance", "events", False),
        ("ops", "orders", True),
        ("ops", "stock", True),
        ("ops", "events", True),
        ("ops", "reconciliations", False),
        ("admin", "reconciliations", True),
        ("admin", "orders", True),
        ("admin", "users", True),
        ("nobody", "orders", False),
        (None, "orders", False),
    ],
)
def test_each_role_acts_only_on_its_areas(role, area, allowed):
    assert may_act(role, area) is allowed


def test_emails_are_compared_lowercased_and_refused_when_not_emails():
    assert normal_email("  Ann@Example.COM ") == "ann@example.com"
    for bad in ("", "ann", "ann@", "a b@example.com", "x" * 95 + "@example.com", "a\x00@b.co"):
        with pytest.raises(UserError):
            normal_email(bad)


def test_passwords_need_ten_characters_and_no_nul():
    assert check_password("0123456789") == "0123456789"
    for bad in ("short", "0123456789\x00"):
        with pytest.raises(UserError):
            check_password(bad)


def test_the_wait_after_failures_starts_after_five_and_doubles_up_to_a_cap():
    assert [wait_after(n).total_seconds() for n in (0, 4, 5, 6, 7)] == [0, 0, 2, 4, 8]
    assert wait_after(100) == timedelta(minutes=15)
    last = datetime(2026, 11, 20, tzinfo=UTC)
    assert retry_in(6, last, last + timedelta(seconds=1)) == 3
    assert retry_in(6, last, last + timedelta(seconds=5)) == 0


def test_missing_shipment_is_valued_with_starshipits_item_value():
    facts = drift_facts(
        category="missing_shipment",
        sku="MUG",
        expected="3",
        actual="1",
        snapshot={
            "items": [{"sku": "MUG", "quantity": 3, "value": "12.5"}],
            "shipped_date": "2026-11-20T01:02:03.1234567",
        },
        mirror_lines={"MUG": [(3, Decimal("99"))]},
        mirror_shipped_at=None,
    )
    assert facts == Facts(
        3,
        1,
        2,
        Decimal("12.5"),
        Decimal("25.0"),
        datetime(2026, 11, 20, 1, 2, 3, 123456, tzinfo=UTC),
    )


def test_without_a_snapshot_the_mirrored_lines_value_the_row():
    facts = drift_facts(
        category="unexpected_shipment",
        sku="MUG",
        expected="0",
        actual="4",
        snapshot=None,
        mirror_lines={"MUG": [(1, Decimal("10")), (3, Decimal("20"))]},
        mirror_shipped_at=None,
    )
    assert (facts.difference, facts.unit_value, facts.value) == (
        -4,
        Decimal("17.5"),
        Decimal("-70.0"),
    )


def test_an_unknown_order_is_valued_over_every_sku_it_shipped():
    snapshot = {
        "status": "Shipped",
        "items": [
            {"sku": "A", "quantity": 2, "value": 3},
            {"sku": "B", "quantity": 1, "value": "4.5"},
        ],
    }
    facts = drift_facts(
        category="unknown_order",
        sku=None,
        expected="3",
        actual="0",
        snapshot=snapshot,
        mirror_lines={},
        mirror_shipped_at=None,
    )
    assert (facts.difference, facts.unit_value, facts.value) == (3, None, Decimal("10.5"))


def test_rows_without_units_or_values_have_none_and_never_fail():
    status = drift_facts(
        category="status_mismatch",
        sku=None,
        expected="SHIPPED",
        actual="PENDING",
        snapshot=None,
        mirror_lines={},
        mirror_shipped_at=None,
    )
    negative = drift_facts(
        category="negative_stock",
        sku="X",
        expected=">= 0",
        actual="-4",
        snapshot=None,
        mirror_lines={},
        mirror_shipped_at=None,
    )
    odd = drift_facts(
        category="missing_shipment",
        sku="X",
        expected="NaN",
        actual="0",
        snapshot={"items": [{"sku": "X", "value": "Infinity"}]},
        mirror_lines={},
        mirror_shipped_at=None,
    )
    assert status.difference is None and status.value is None
    assert (negative.ledger_qty, negative.value) == (-4, None)
    assert (odd.difference, odd.unit_value) == (None, None)
    assert unit_value([]) is None


def test_notes_must_say_something_and_hold_no_control_characters():
    assert check_note("  seen \n twice ") == "seen \n twice"
    for bad in ("", "   ", "x" * 2001, "bell\x07"):
        with pytest.raises(ValueError):
            check_note(bad)


def test_numbers_money_and_plurals_read_as_people_write_them():
    assert (number(12345), number(-5), signed(3), signed(-2), signed(0)) == (
        "12,345",
        "−5",
        "+3",
        "−2",
        "0",
    )
    assert money(Decimal("-62.5")) == "−62.50" and money(None) == "—"
    assert (plural(1, "order"), plural(2, "order"), plural(0, "entry", "entries")) == (
        "1 order",
        "2 orders",
        "0 entries",
    )
    assert plain("order_shipped: RELEASED → PARTIALLY_SHIPPED") == "released → partly shipped"
    assert category_words("missing_shipment").startswith("Shipped in Starshipit")
