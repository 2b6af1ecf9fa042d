"""The weekly review page in real headless Chromium, as a Manager: the vendored Chart.js
draws every chart from the page's json_script data under the strict CSP, and each
chart's points are the numbers of the table beside it. A screenshot goes to
docs/screenshots/review.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS
from tests.review_support import WEEK, build_week_of_cases, keep

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each canvas, and for each of its datasets the table cells (data-series) it must match.
CHARTS = {
    "chart-tta": ["tta_p50", "tta_p90"],
    "chart-ttr": ["ttr_p50", "ttr_p90"],
    "chart-adherence": ["adherence_ack", "adherence_resolve", "adherence_update"],
    "chart-pareto": ["pareto_counts", "pareto_cumulative"],
}

CHART_POINTS = """(id) => {
  const chart = Chart.getChart(document.getElementById(id));
  if (!chart) return null;
  return {labels: chart.data.labels, datasets: chart.data.datasets.map((d) => d.data),
          drawn: chart.getDatasetMeta(0).data.length};
}"""

TABLE_VALUES = """(series) => Array.from(document.querySelectorAll(`td[data-series="${series}"]`)).map(
  (td) => td.dataset.value === "" ? null : Number(td.dataset.value))"""


def test_manager_sees_the_charts_drawn_from_the_tables_numbers(
    signed_in, live_server, make_incident, agent, other_agent, manager
):
    build_week_of_cases(make_incident, agent, other_agent, manager)
    keep()  # the beat, after the week ended
    errors: list[str] = []
    page = signed_in(manager)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{live_server.url}/manage/review/?week={WEEK}")
    expect(page.locator("h1")).to_have_text(f"Weekly review: {WEEK}")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-pareto'))")

    for canvas, series in CHARTS.items():
        chart = page.evaluate(CHART_POINTS, canvas)
        assert chart is not None, canvas
        assert chart["drawn"] == len(chart["labels"]) > 0, canvas
        for points, name in zip(chart["datasets"], series, strict=True):
            assert points == page.evaluate(TABLE_VALUES, name), (canvas, name)
    tta = page.evaluate(CHART_POINTS, "chart-tta")
    assert tta["labels"][-1] == WEEK and len(tta["labels"]) == 13
    assert tta["datasets"][0][-1] == 45.0  # the week's TTA median, 45 minutes
    pareto = page.evaluate(CHART_POINTS, "chart-pareto")
    assert pareto["labels"] == ["Team at capacity", "Nobody owned it"]
    assert pareto["datasets"] == [[3, 1], [75.0, 100.0]]
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    page.screenshot(path=str(SCREENSHOTS / "review.png"), full_page=True)
