"""The handoff audit: every handoff with filters, one handoff's packet as offered and its
answer, a CSV export of the filtered list, and one case's handoff chain. Every view
starts with ``require_manager_pages`` (a 404 for everyone but Duty Managers and Managers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from escalations.choices import Stage
from escalations.display import person_name
from escalations.forms.cases import PersonChoiceField
from escalations.lib.spreadsheet import CsvRows
from escalations.lib.text import duration_text
from escalations.models import Team
from escalations.models.cases import reference_for
from escalations.selectors.audit import (
    DEFAULT_PING_PONG_WINDOW,
    OUTCOME_LABELS,
    OUTCOMES,
    HandoffFilters,
    audited_case,
    case_audit_trail,
    handoff_audit_get,
    handoff_audit_list,
    handoff_chain,
    packet_quality,
)
from escalations.views.common import login_required, require_manager_pages

PAGE_SIZE = 50
# Rows fetched per round trip while streaming the CSV: memory stays flat at any size.
CSV_CHUNK = 2000
ANY = [("", "Any")]


class HandoffAuditForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), required=False, empty_label="Any")
    person = PersonChoiceField(
        queryset=get_user_model().objects.none(), required=False, empty_label="Any", label="Person (from or to)"
    )
    stage = forms.ChoiceField(choices=ANY + Stage.choices, required=False, label="Stage (from or to)")
    outcome = forms.ChoiceField(choices=ANY + list(OUTCOMES), required=False)
    accept_over = forms.IntegerField(
        min_value=0, required=False, label="Accepted after more than (minutes)", widget=forms.NumberInput()
    )
    ping_pong = forms.BooleanField(required=False, label="Ping-pong only")
    window = forms.IntegerField(
        min_value=1,
        max_value=24 * 90,
        required=False,
        label="Ping-pong window (hours)",
        help_text="A case returning to a person or team it left within this many hours is ping-pong.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = (
            get_user_model().objects.filter(is_active=True).order_by("first_name", "last_name", "username")
        )
        self.fields["window"].widget.attrs["placeholder"] = str(int(DEFAULT_PING_PONG_WINDOW.total_seconds() // 3600))

    def filters(self) -> HandoffFilters:
        """The filters asked for; an invalid field is left out (the form shows its error)."""
        data = {}
        if self.is_bound:
            self.is_valid()  # cleaned_data then holds the valid fields only
            data = self.cleaned_data
        team, person = data.get("team"), data.get("person")
        window = data.get("window")
        return HandoffFilters(
            team_id=team.pk if team else None,
            person_id=person.pk if person else None,
            stage=data.get("stage") or "",
            outcome=data.get("outcome") or "",
            accept_over_minutes=data.get("accept_over"),
            ping_pong_only=bool(data.get("ping_pong")),
            window=timedelta(hours=window) if window else DEFAULT_PING_PONG_WINDOW,
        )


def _form(request: HttpRequest) -> HandoffAuditForm:
    return HandoffAuditForm(request.GET or None)


@login_required
def handoff_list(request: HttpRequest) -> HttpResponse:
    require_manager_pages(request)
    form = _form(request)
    rows = handoff_audit_list(user=request.user, filters=form.filters())
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for h in page:
        h.outcome_label = OUTCOME_LABELS.get(h.outcome, h.outcome)
    return render(request, "escalations/manage/handoffs.html", {"form": form, "page": page})


@login_required
def handoff_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_manager_pages(request)
    window = _form(request).filters().window
    handoff = handoff_audit_get(user=request.user, pk=pk, window=window)
    return render(
        request,
        "escalations/manage/handoff_detail.html",
        {
            "h": handoff,
            "outcome_label": OUTCOME_LABELS.get(handoff.outcome, handoff.outcome),
            "answer_after": handoff.responded_at - handoff.offered_at if handoff.responded_at else None,
            "window_hours": int(window.total_seconds() // 3600),
        },
    )


def _csv_download(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    """A CSV streamed as it is written, saved by the browser under ``filename``."""
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


CSV_HEADER = (
    "Handoff",
    "Case",
    "Offered at (UTC)",
    "From",
    "From team",
    "From stage",
    "To",
    "To team",
    "To stage",
    "Outcome",
    "Answered by",
    "Answered at (UTC)",
    "Time to accept (minutes)",
    "Ping-pong",
    "Rejection reason",
)


def _csv_rows(rows) -> Iterator[str]:
    writer = CsvRows()
    yield writer.line(CSV_HEADER)
    for h in rows.iterator(chunk_size=CSV_CHUNK):
        yield writer.line(
            (
                h.pk,
                reference_for(h.incident_id),
                h.offered_at.isoformat(),
                person_name(h.from_user),
                h.from_team.name if h.from_team else "",
                Stage(h.from_stage).label,
                person_name(h.to_user, nobody=""),
                h.to_team.name if h.to_team else "",
                Stage(h.to_stage).label,
                OUTCOME_LABELS.get(h.outcome, h.outcome),
                person_name(h.responded_by, nobody=""),
                h.responded_at.isoformat() if h.responded_at else "",
                round(h.time_to_accept.total_seconds() / 60, 1) if h.time_to_accept is not None else "",
                "yes" if h.ping_pong else "no",
                h.rejection_reason,
            )
        )


@login_required
def handoff_csv(request: HttpRequest) -> StreamingHttpResponse:
    require_manager_pages(request)
    form = _form(request)
    rows = handoff_audit_list(user=request.user, filters=form.filters())
    return _csv_download(_csv_rows(rows), f"handoffs-{timezone.now():%Y%m%d-%H%M}.csv")


@login_required
def case_handoff_chain(request: HttpRequest, pk: int) -> HttpResponse:
    require_manager_pages(request)
    incident, holds = handoff_chain(user=request.user, incident_pk=pk)
    now = timezone.now()
    for hold in holds:
        hold.duration_text = duration_text(hold.duration(now))
        for h in hold.offers:
            h.outcome_label = OUTCOME_LABELS.get(h.outcome, h.outcome)
    return render(request, "escalations/manage/case_handoffs.html", {"incident": incident, "holds": holds})


@login_required
def case_audit(request: HttpRequest, pk: int) -> HttpResponse:
    require_manager_pages(request)
    incident = audited_case(user=request.user, incident_pk=pk)
    return render(
        request, "escalations/manage/case_audit.html", {"incident": incident, "entries": case_audit_trail(incident)}
    )


QUALITY_PERIODS = [("7", "Last 7 days"), ("28", "Last 28 days"), ("90", "Last 90 days"), ("all", "All time")]


class QualityForm(forms.Form):
    period = forms.ChoiceField(choices=QUALITY_PERIODS, required=False, initial="28")


def _quality_period(request: HttpRequest) -> tuple[QualityForm, str]:
    form = QualityForm(request.GET or None)
    period = form.cleaned_data.get("period") if form.is_valid() else ""
    return form, period or "28"


def _quality(request: HttpRequest, period: str):
    since = None if period == "all" else timezone.now() - timedelta(days=int(period))
    return packet_quality(user=request.user, since=since)


@login_required
def handoff_quality(request: HttpRequest) -> HttpResponse:
    require_manager_pages(request)
    form, period = _quality_period(request)
    quality = _quality(request, period)
    return render(
        request,
        "escalations/manage/handoff_quality.html",
        {
            "form": form,
            "quality": quality,
            "quality_tables": [
                ("By team", "quality-teams", quality.teams),
                ("By person", "quality-people", quality.people),
            ],
            "period_label": dict(QUALITY_PERIODS)[period],
        },
    )


QUALITY_CSV_HEADER = (
    "By",
    "Team or person",
    "Packets offered",
    "Complete",
    "Complete (%)",
    "Rejected",
    "Breached the acceptance time box",
)


def _quality_csv_rows(quality) -> Iterator[str]:
    writer = CsvRows()
    yield writer.line(QUALITY_CSV_HEADER)
    for by, rows in (("Team", quality.teams), ("Person", quality.people), ("All", [quality.overall])):
        for r in rows:
            pct = r.complete_pct if r.complete_pct is not None else ""
            yield writer.line((by, r.name, r.offered, r.complete, pct, r.rejected, r.breached))


@login_required
def handoff_quality_csv(request: HttpRequest) -> StreamingHttpResponse:
    require_manager_pages(request)
    _, period = _quality_period(request)
    return _csv_download(
        _quality_csv_rows(_quality(request, period)), f"packet-quality-{period}-{timezone.now():%Y%m%d}.csv"
    )
