"""CSV cells that a spreadsheet would run as formulas are neutralised (CSV injection)."""

from __future__ import annotations

import csv
import io

import pytest

from app.reconcile.models import ReconciliationDrift
from app.reconcile.report import CSV_COLUMNS, csv_lines, csv_values, escape_cell


@pytest.mark.parametrize("cell", ["=1+1", "+41", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_cells_starting_with_a_formula_trigger_are_prefixed_with_a_quote(cell):
    assert escape_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["MUG", "12", "a=b", "", None])
def test_ordinary_cells_are_left_alone(cell):
    assert escape_cell(cell) == ("" if cell is None else cell)


def test_csv_lines_quote_commas_quotes_and_newlines_and_end_in_crlf():
    row = ReconciliationDrift(
        id=1,
        run_id=2,
        category="quantity_mismatch",
        order_id=3,
        order_number='A,"B"',
        sku="=cmd|' /C calc'!A0",
        expected="2",
        actual="-1",
        detail="line one\nline two",
    )
    text = "".join(csv_lines([csv_values(row)]))
    assert text.endswith("\r\n")
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == list(CSV_COLUMNS)
    assert parsed[1][4] == 'A,"B"'
    assert parsed[1][5] == "'=cmd|' /C calc'!A0"
    assert parsed[1][7] == "'-1"
    assert parsed[1][8] == "line one\nline two"
    assert '"A,""B"""' in text
