"""ISO weeks: one parser for every door; a week outside the range is a clear message,
never a crash, and every week the review derives from a valid one is a real date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalations.sla.weeks import FIRST_YEAR, LAST_YEAR, last_complete_week, week_label, week_parse, weeks_ending


@pytest.mark.parametrize("label", ["0001-W01", "0999-W52", "1000-W01", "1969-W52", "9999-W01", "9999-W52"])
def test_years_out_of_range_are_a_clear_message(label):
    with pytest.raises(ValueError, match=f"between {FIRST_YEAR}-W01 and {LAST_YEAR}-W52"):
        week_parse(label)


@pytest.mark.parametrize("label", ["", "2026", "2026-W7", "2026W47", "26-W47", "2026-W470", "２０２６-W47", None])
def test_the_wrong_shape_is_a_clear_message(label):
    with pytest.raises(ValueError, match="ISO week such as 2026-W47"):
        week_parse(label)


def test_a_week_the_year_does_not_have():
    with pytest.raises(ValueError, match="not a week of 2025"):
        week_parse("2025-W53")
    assert week_parse("2026-W53").starts_at == datetime(2026, 12, 28, tzinfo=UTC)


@given(st.text(max_size=12))
def test_any_text_parses_or_raises_value_error(text):
    try:
        week = week_parse(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert week.ends_at - week.starts_at == timedelta(days=7)


@given(st.integers(FIRST_YEAR, LAST_YEAR), st.integers(1, 53))
def test_every_valid_week_and_the_weeks_a_page_derives_from_it_are_real(year, number):
    label = f"{year}-W{number:02d}"
    try:
        week = week_parse(label)
    except ValueError:
        return  # W53 of a year that has none
    assert week_label(week.starts_at) == label
    series = weeks_ending(week, 13)
    assert len(series) == 13 and series[-1] == week
    assert week_label(week.ends_at) is not None  # the week after is a date too


def test_last_complete_week():
    assert last_complete_week(datetime(2026, 11, 23, 0, 0, tzinfo=UTC)).label == "2026-W47"
    assert last_complete_week(datetime(2026, 11, 22, 23, 59, tzinfo=UTC)).label == "2026-W46"
