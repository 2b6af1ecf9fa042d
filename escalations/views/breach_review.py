"""The breach-cause review queue: breaches without a confirmed cause, oldest first, each
with what the facts suggested and a form to confirm it or pick another cause. Ticked
rows are confirmed together through ``services.breach_causes`` (all or none). Starts
with ``require_manager_pages`` (a 404 for everyone but Duty Managers and Managers)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from escalations.choices import ClockKind, SeverityKey
from escalations.errors import ServiceError
from escalations.models import BreachCauseOption, Team
from escalations.selectors.causes import NO_SUGGESTION, BreachReviewFilters, breach_review_list
from escalations.services.breach_causes import CausePick, breach_causes_confirm
from escalations.views.common import login_required, require_manager_pages, safe_next

PAGE_SIZE = 50
ANY = [("", "Any")]
# How a refusal's field reads on this page.
FIELD_LABELS = {"cause": "Cause", "note": "Note", "confirm": "Breaches to confirm", "breach": "Breach"}


class BreachReviewFilterForm(forms.Form):
    severity = forms.ChoiceField(choices=ANY + SeverityKey.choices, required=False)
    kind = forms.ChoiceField(choices=ANY + ClockKind.choices, required=False, label="Clock")
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), required=False, empty_label="Any")
    suggested = forms.ChoiceField(required=False, label="Suggested cause")

    def __init__(self, *args, options: list[BreachCauseOption], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["suggested"].choices = [
            *ANY,
            *((o.code, str(o)) for o in options),
            (NO_SUGGESTION, "No suggestion"),
        ]

    def filters(self) -> BreachReviewFilters:
        """The filters asked for; an invalid field is left out (the form shows its error)."""
        data = {}
        if self.is_bound:
            self.is_valid()
            data = self.cleaned_data
        team = data.get("team")
        return BreachReviewFilters(
            severity=data.get("severity") or "",
            kind=data.get("kind") or "",
            team_id=team.pk if team else None,
            suggested=data.get("suggested") or "",
        )


def _picks(request: HttpRequest) -> list[CausePick] | None:
    """The ticked rows with their cause and note; None when a ticked value is no breach id."""
    picks = []
    for raw in request.POST.getlist("confirm"):
        if not raw.isdigit() or len(raw) > 18:
            return None
        pk = int(raw)
        picks.append(
            CausePick(breach_id=pk, cause=request.POST.get(f"cause-{pk}", ""), note=request.POST.get(f"note-{pk}", ""))
        )
    return picks


@login_required
def breach_review(request: HttpRequest) -> HttpResponse:
    require_manager_pages(request)
    errors: dict[int | None, list[str]] = {}
    if request.method == "POST":
        picks = _picks(request)
        try:
            if picks is None:
                raise ServiceError("Pick breaches from the list.", field="confirm")
            done = breach_causes_confirm(picks=picks, actor=request.user, now=timezone.now())
        except ServiceError as exc:
            for error in exc.all_errors():
                label = FIELD_LABELS.get(error.field or "", "")
                text = f"{label}: {error.message}" if label else error.message
                errors.setdefault(getattr(error, "breach_id", None), []).append(text)
        else:
            messages.success(request, f"Cause confirmed for {len(done)} breach{'es' if len(done) != 1 else ''}.")
            return redirect(safe_next(request, request.get_full_path(), request.path))
    options = list(BreachCauseOption.objects.order_by("position", "label"))
    form = BreachReviewFilterForm(request.GET or None, options=options)
    rows = breach_review_list(user=request.user, filters=form.filters())
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    posted = request.POST if errors else None
    for breach in page:
        breach.late_by = breach.detected_at - breach.due_at
        breach.picked = posted.get(f"cause-{breach.pk}", "") if posted else (breach.cause_suggested_id or "")
        breach.note_value = posted.get(f"note-{breach.pk}", "") if posted else ""
        breach.ticked = posted is not None and str(breach.pk) in posted.getlist("confirm")
        breach.errors = errors.pop(breach.pk, [])
    # Refusals of rows not on this page (or of the whole form) are listed above the table.
    loose = [(pk, text) for pk, texts in errors.items() for text in texts]
    return render(
        request,
        "escalations/manage/breaches.html",
        {
            "form": form,
            "page": page,
            "choices": [o for o in options if o.is_active],
            "loose_errors": loose,
        },
        status=400 if posted is not None else 200,
    )
