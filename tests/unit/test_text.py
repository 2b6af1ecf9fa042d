"""Text cleaning: bidi controls out of one-line fields, long text limited."""

from __future__ import annotations

import pytest

from escalations.lib.text import MAX_LONG_TEXT, long_text_error, one_line


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Refund \u202egnp.exe", "Refund gnp.exe"),
        ("\u2066Checkout\u2069 down", "Checkout down"),
        ("a\u200eb\u200fc\u061cd", "abcd"),
        ("  spaced  ", "spaced"),
        ("عربي title", "عربي title"),
        (None, ""),
    ],
)
def test_one_line_drops_bidi_controls(raw, clean):
    assert one_line(raw) == clean


def test_long_text_has_a_limit():
    assert long_text_error("x" * MAX_LONG_TEXT) is None
    assert long_text_error(None) is None
    message = long_text_error("x" * (MAX_LONG_TEXT + 1))
    assert message is not None and "20,000" in message and "20,001" in message
