"""CSV rows that a spreadsheet opens as data, never as formulas.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a
formula to Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)`` sends the sheet's
contents to whoever wrote it). Following OWASP's CSV-injection advice, such a text cell
gets a leading apostrophe, which spreadsheets show as text; numbers stay numbers.
Every CSV export writes through ``CsvRows``."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_cell(value: Any) -> Any:
    """``value`` as a CSV cell: a text that a spreadsheet would read as a formula
    (even after leading blanks) is prefixed with an apostrophe."""
    if isinstance(value, str) and value.lstrip(" ").startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    """csv.writer writes into this; each row comes back as the string to stream."""

    def write(self, value: str) -> str:
        return value


class CsvRows:
    """Turns rows into CSV lines to stream, each cell through ``spreadsheet_cell``."""

    def __init__(self) -> None:
        self._writer = csv.writer(_Echo())

    def line(self, values: Iterable[Any]) -> str:
        return self._writer.writerow([spreadsheet_cell(v) for v in values])
