"""Intake: a new case from the form. Before saving, "Check severity" shows what the
trigger rules give and why; with JavaScript the same preview updates live."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from escalations.forms.cases import ImpactPreviewForm, IntakeForm, put_service_error
from escalations.security.access import may_start_drill
from escalations.selectors.policies import triggers_evaluate
from escalations.services import ServiceError, incident_create
from escalations.sla import TriggerResult
from escalations.views.common import case_url, login_required, require_perm


def _preview(impact: dict) -> TriggerResult:
    return triggers_evaluate(**impact)


@login_required
def case_create(request: HttpRequest) -> HttpResponse:
    require_perm(request, "escalations.add_incident")
    form = IntakeForm(request.POST if request.method == "POST" else None)
    if not may_start_drill(request.user):
        # A drill silences its pages: offered only to those who may start one.
        del form.fields["is_drill"]
    preview: TriggerResult | None = None
    status = 200
    if request.method == "POST" and form.is_valid():
        preview = _preview(form.impact())
        if request.POST.get("action") != "check":
            data = form.cleaned_data
            try:
                incident = incident_create(
                    actor=request.user,
                    now=timezone.now(),
                    title=data["title"],
                    customer=data["customer"],
                    channel=data["channel"],
                    team=data["team"],
                    description=data["description"],
                    reported_at=data["reported_at"],
                    severity=data["severity"] or None,
                    severity_reason=data["severity_reason"],
                    is_drill=data.get("is_drill", False),
                    **form.impact(),
                )
            except ServiceError as exc:
                put_service_error(form, exc)
                status = 403 if exc.status_code == 403 else 400
            else:
                messages.success(request, f"Created {incident.reference}")
                return redirect(case_url(incident.pk))
    elif request.method == "POST":
        status = 400
    return render(request, "escalations/case_create.html", {"form": form, "preview": preview}, status=status)


@login_required
def case_create_preview(request: HttpRequest) -> JsonResponse:
    """The trigger result for the impact facts in the query string (live preview)."""
    require_perm(request, "escalations.add_incident")
    form = ImpactPreviewForm(request.GET)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    impact = {k: v for k, v in form.cleaned_data.items() if v is not None}
    result = _preview(impact)
    return JsonResponse({"severity": result.severity, "explanation": result.explanation})
