"""The weekly review page: the chosen ISO week and the 12 before it, as kept by the beat
(escalations.reporting computes every figure; this view only reads them). A week not
kept yet is shown as being computed, and the view asks the keeping task to run sooner;
it never computes a week. Charts are drawn by a static script from data in
json_script; every chart is also a table."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from escalations.choices import ClockKind, Sentiment, SeverityKey, Stage
from escalations.reporting.definitions import ALL, DEFINITIONS, SEVERITY_KEYS, SEVERITY_LABELS
from escalations.reporting.figures import ReviewFigures, kept_by, last_complete_week, review_figures
from escalations.selectors.rca import overdue_action_items, overdue_postmortems
from escalations.services.review_weeks import review_weeks_hurry
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


def _rows(figures: ReviewFigures, key: str) -> list[dict]:
    """One table row per week for the trend charts of severity ``key``."""
    rows = []
    for i, week in enumerate(figures.weeks):
        handoffs = figures.handoffs[key]
        rows.append(
            {
                "week": week,
                "state": figures.states[i],
                "is_chosen": i == len(figures.weeks) - 1,
                "tta_n": figures.tta[key].count[i],
                "tta_p50": figures.tta[key].median[i],
                "tta_p90": figures.tta[key].p90[i],
                "ttr_n": figures.ttr_cycle[key].count[i],
                "ttr_p50": figures.ttr_cycle[key].median[i],
                "ttr_p90": figures.ttr_cycle[key].p90[i],
                "ack": figures.adherence[key]["ack"][i],
                "resolve": figures.adherence[key]["resolve"][i],
                "update": figures.adherence[key]["update"][i],
                "breaches": figures.breaches[key]["total"][i],
                "reopens": figures.reopens[key][i],
                "reopen_rate": figures.reopen_rate[key][i],
                "handoffs": handoffs["offered"][i],
                "per_case": handoffs["per_case"][i],
                "ping_pong": handoffs["ping_pong"][i],
                "ping_pong_rate": handoffs["ping_pong_rate"][i],
                "accept_p50": figures.time_to_accept[key].median[i],
                "accept_p90": figures.time_to_accept[key].p90[i],
                "executive": figures.executive_escalations[key][i],
                "overrides": figures.severity_set_by_hand[key][i],
                "opened": figures.opened["cases"][key][i],
                "open_at_end": figures.open_at_end["cases"][key][i],
            }
        )
    return rows


def _severity_rows(figures: ReviewFigures) -> list[dict]:
    """The chosen week, one row per severity and one for all (a kept week only)."""
    if not figures.is_kept:
        return []
    i = len(figures.weeks) - 1
    return [
        {
            "label": SEVERITY_LABELS[key],
            "key": key,
            "opened": figures.opened["cases"][key][i],
            "opened_arr": figures.opened["arr_at_risk"][key][i],
            "tta_p50": figures.tta[key].median[i],
            "tta_p90": figures.tta[key].p90[i],
            "ttr_p50": figures.ttr_cycle[key].median[i],
            "ttr_p90": figures.ttr_cycle[key].p90[i],
            "ttr_total_p50": figures.ttr_total[key].median[i],
            "ack": figures.adherence[key]["ack"][i],
            "resolve": figures.adherence[key]["resolve"][i],
            "update": figures.adherence[key]["update"][i],
            "breaches": [
                (label, figures.breaches[key][kind][i])
                for kind, label in ClockKind.choices
                if figures.breaches[key][kind][i]
            ],
            "breaches_total": figures.breaches[key]["total"][i],
            "reopen_rate": figures.reopen_rate[key][i],
            "handoffs": figures.handoffs[key]["offered"][i],
            "accepted": figures.handoffs[key]["accepted"][i],
            "rejected": figures.handoffs[key]["rejected"][i],
            "per_case": figures.handoffs[key]["per_case"][i],
            "ping_pong": figures.handoffs[key]["ping_pong"][i],
            "ping_pong_rate": figures.handoffs[key]["ping_pong_rate"][i],
            "accept_p50": figures.time_to_accept[key].median[i],
            "accept_p90": figures.time_to_accept[key].p90[i],
            "open_cases": figures.open_at_end["cases"][key][i],
            "arr": figures.open_at_end["arr_at_risk"][key][i],
            "executive": figures.executive_escalations[key][i],
        }
        for key in (*SeverityKey.values, ALL)
    ]


def _sentiment_rows(figures: ReviewFigures) -> list[tuple[str, int | None, int | None]]:
    """Sentiment of the cases opened in the week and of those open at its end."""
    opened, open_at_end = figures.opened["sentiment"][ALL], figures.open_at_end["sentiment"][ALL]
    return [(label, opened[key][-1], open_at_end[key][-1]) for key, label in Sentiment.choices]


@login_required
def weekly_review(request: HttpRequest) -> HttpResponse:
    require_manager_pages(request)
    now = timezone.now()
    week, severity = last_complete_week(now), ALL
    form = ReviewWeekForm(request.GET or None, initial={"week": week.label, "severity": ALL})
    if form.is_bound and form.is_valid():
        week = form.cleaned_data["week"] or week
        severity = form.cleaned_data["severity"] or ALL
    figures = review_figures(week, now=now)
    if figures.missing:
        review_weeks_hurry(figures.missing)
    i = len(figures.weeks) - 1
    return render(
        request,
        "escalations/manage/review.html",
        {
            "form": form,
            "figures": figures,
            "week": figures.week,
            "state": figures.state.value,
            "kept_by": kept_by(figures.week, now),
            "computed_at": figures.computed_at[-1],
            "earlier_missing": [w for w in figures.missing if w != figures.week],
            "severity_label": SEVERITY_LABELS[severity],
            "chart_data": figures.chart_data(severity),
            "trend_rows": _rows(figures, severity),
            "severity_rows": _severity_rows(figures),
            "stage_rows": [
                {
                    "label": label,
                    "count": figures.stage_ownership[stage].count[i],
                    "p50": figures.stage_ownership[stage].median[i],
                    "p90": figures.stage_ownership[stage].p90[i],
                }
                for stage, label in Stage.choices
            ],
            "sentiment_rows": _sentiment_rows(figures),
            "credits": {name: values[i] for name, values in figures.credits.items()},
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
