"""The weekly review page: the chosen ISO week and the 12 before it (escalations.reporting.review
computes every figure). Charts are drawn by a static script from data in json_script;
every chart is also a table."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from escalations.choices import ClockKind, Sentiment, SeverityKey, Stage
from escalations.reporting.review import (
    ALL,
    DEFINITIONS,
    SEVERITY_KEYS,
    SEVERITY_LABELS,
    last_complete_week,
    review_figures,
)
from escalations.selectors.rca import overdue_action_items, overdue_postmortems
from escalations.sla.weeks import week_parse
from escalations.views.common import login_required, require_manager_pages

# Overdue RCAs and action items listed on the page; /manage/rcas/ has them all.
OVERDUE_ROWS = 50


class ReviewWeekForm(forms.Form):
    week = forms.CharField(
        label="Week",
        required=False,
        max_length=8,
        widget=forms.TextInput(attrs={"type": "week", "placeholder": "2026-W47"}),
        help_text="An ISO week, such as 2026-W47; the page shows it and the 12 weeks before it.",
    )
    severity = forms.ChoiceField(
        label="Trend charts for",
        required=False,
        choices=[(key, SEVERITY_LABELS[key]) for key in SEVERITY_KEYS],
    )

    def clean_week(self):
        value = (self.cleaned_data.get("week") or "").strip()
        if not value:
            return None
        try:
            return week_parse(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


def _rows(figures, key: str) -> list[dict]:
    """One table row per week for the trend charts of severity ``key``."""
    rows = []
    for i, week in enumerate(figures.weeks):
        rows.append(
            {
                "week": week,
                "is_chosen": week.label == figures.week.label,
                "tta_n": figures.tta[key].count[i],
                "tta_p50": figures.tta[key].median[i],
                "tta_p90": figures.tta[key].p90[i],
                "ttr_n": figures.ttr[key].count[i],
                "ttr_p50": figures.ttr[key].median[i],
                "ttr_p90": figures.ttr[key].p90[i],
                "ack": figures.adherence["ack"][key][i],
                "resolve": figures.adherence["resolve"][key][i],
                "update": figures.adherence["update"][key][i],
                "breaches": figures.breaches[key]["total"][i],
                "reopens": figures.reopens[key][i],
                "reopen_rate": figures.reopen_rate[key][i],
                "handoffs": figures.handoffs_offered[key][i],
                "per_case": figures.handoffs_per_case[key][i],
                "ping_pong_rate": figures.ping_pong_rate[key][i],
                "accept_p50": figures.time_to_accept[key].median[i],
                "accept_p90": figures.time_to_accept[key].p90[i],
                "executive": figures.executive_per_week[key][i],
                "overrides": figures.manual_severity_per_week[key][i],
            }
        )
    return rows


def _severity_rows(figures) -> list[dict]:
    """The chosen week, one row per severity and one for all."""
    i = len(figures.weeks) - 1
    return [
        {
            "label": SEVERITY_LABELS[key],
            "key": key,
            "tta_p50": figures.tta[key].median[i],
            "tta_p90": figures.tta[key].p90[i],
            "ttr_p50": figures.ttr[key].median[i],
            "ttr_p90": figures.ttr[key].p90[i],
            "ack": figures.adherence["ack"][key][i],
            "resolve": figures.adherence["resolve"][key][i],
            "update": figures.adherence["update"][key][i],
            "breaches": [
                (label, figures.breaches[key][kind][i])
                for kind, label in ClockKind.choices
                if figures.breaches[key][kind][i]
            ],
            "breaches_total": figures.breaches[key]["total"][i],
            "reopen_rate": figures.reopen_rate[key][i],
            "per_case": figures.handoffs_per_case[key][i],
            "ping_pong_rate": figures.ping_pong_rate[key][i],
            "accept_p50": figures.time_to_accept[key].median[i],
            "accept_p90": figures.time_to_accept[key].p90[i],
            "open_cases": figures.open_at_end[key]["cases"],
            "arr": figures.open_at_end[key]["arr"],
            "executive": figures.executive_per_week[key][i],
        }
        for key in (*SeverityKey.values, ALL)
    ]


@login_required
def weekly_review(request: HttpRequest) -> HttpResponse:
    require_manager_pages(request)
    week, severity = last_complete_week(), ALL
    form = ReviewWeekForm(request.GET or None, initial={"week": week.label, "severity": ALL})
    if form.is_bound and form.is_valid():
        week = form.cleaned_data["week"] or week
        severity = form.cleaned_data["severity"] or ALL
    figures = review_figures(week)
    now = timezone.now()
    return render(
        request,
        "escalations/manage/review.html",
        {
            "form": form,
            "figures": figures,
            "week": figures.week,
            "severity_label": SEVERITY_LABELS[severity],
            "chart_data": figures.chart_data(severity),
            "trend_rows": _rows(figures, severity),
            "severity_rows": _severity_rows(figures),
            "stage_rows": [
                {
                    "label": label,
                    "count": figures.stage_ownership[stage].count[-1],
                    "p50": figures.stage_ownership[stage].median[-1],
                    "p90": figures.stage_ownership[stage].p90[-1],
                }
                for stage, label in Stage.choices
            ],
            "sentiment_rows": [(label, figures.sentiment_at_end[key]) for key, label in Sentiment.choices],
            "definitions": DEFINITIONS,
            "previous_week": figures.weeks[-2].label if len(figures.weeks) > 1 else None,
            # Deadlines as they stand now, whatever week is shown: what the review must chase.
            "overdue_rcas": list(
                overdue_postmortems(now=now)
                .select_related("incident", "author")
                .order_by("due_at", "pk")[:OVERDUE_ROWS]
            ),
            "overdue_items": overdue_action_items(now=now, limit=OVERDUE_ROWS),
        },
    )
