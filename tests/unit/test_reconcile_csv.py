"""CSV cells that a spreadsheet would run as formulas are neutralised (CSV injection)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from app.reconcile.report import CSV_COLUMNS, csv_lines, csv_values, escape_cell


@pytest.mark.parametrize("cell", ["=1+1", "+41", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_cells_starting_with_a_formula_trigger_are_prefixed_with_a_quote(cell):
    assert escape_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["MUG", "12", "a=b", "", None])
def test_ordinary_cells_are_left_alone(cell):
    assert escape_cell(cell) == ("" if cell is None else cell)


@pytest.mark.parametrize("number", [-5, 0, 7, Decimal("-62.50"), Decimal("12.5")])
def test_numbers_stay_numbers_never_quoted_like_formulas(number):
    assert escape_cell(number) == str(number)


def _row(**values):
    row = dict.fromkeys(
        (
            "order_number",
            "sku",
            "starshipit_qty",
            "ledger_qty",
            "difference",
            "unit_value",
            "value",
            "shipped_at",
            "detail",
            "note",
        ),
    )
    row.update(category="quantity_mismatch", state="open")
    row.update(values)
    return SimpleNamespace(**row)


def test_csv_lines_quote_commas_quotes_and_newlines_and_end_in_crlf():
    row = _row(
        order_number='A,"B"',
        sku="=cmd|' /C calc'!A0",
        starshipit_qty=2,
        ledger_qty=7,
        difference=-5,
        unit_value=Decimal("12.5"),
        value=Decimal("-62.5"),
        shipped_at=datetime(2026, 11, 20, 3, 4, 5, 123456, tzinfo=UTC),
        detail="line one\nline two",
        note="-looks fine",
    )
    text = "".join(csv_lines([csv_values(row, ZoneInfo("Pacific/Auckland"))]))
    assert text.endswith("\r\n")
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert (
        parsed[0]
        == list(CSV_COLUMNS)
        == [
            "order_number",
            "sku",
            "category",
            "starshipit_qty",
            "ledger_qty",
            "difference",
            "unit_value",
            "value",
            "shipped_at",
            "detail",
            "status",
            "note",
        ]
    )
    assert parsed[1][0] == 'A,"B"'
    assert parsed[1][1] == "'=cmd|' /C calc'!A0"
    assert parsed[1][2] == "Shipped quantity differs"
    assert parsed[1][3:8] == ["2", "7", "-5", "12.50", "-62.50"]
    assert parsed[1][8] == "2026-11-20 16:04"
    assert parsed[1][9] == "line one\nline two"
    assert parsed[1][10:] == ["Open", "'-looks fine"]
    assert '"A,""B"""' in text
