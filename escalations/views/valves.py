"""The escape valves' doors: asking for an executive or a service credit from the case
page, and the Managers' approvals page (``/manage/approvals/``) where pending requests
are approved or denied. Thin: access, form, one service call (which checks the rules,
``access.may_decide_valves`` included), respond."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from escalations.forms.cases import put_service_error
from escalations.forms.valves import CreditRequestForm, DecisionForm, ExecutiveRequestForm
from escalations.models import ExecutiveEscalationRequest, ServiceCreditRequest
from escalations.security.access import may_decide_valves
from escalations.selectors.cases import incident_get_for_user
from escalations.selectors.valves import (
    credit_breaches_open,
    credit_requests_pending,
    decision_refusal,
    executive_requests_pending,
)
from escalations.services import ServiceError
from escalations.services.valves import (
    executive_escalation_decide,
    executive_escalation_request,
    service_credit_decide,
    service_credit_request,
)
from escalations.views.case_page import render_case
from escalations.views.common import case_url, login_required, require_manager_pages


def _refused(request: HttpRequest, pk: int, key: str, form, exc: ServiceError) -> HttpResponse:
    put_service_error(form, exc)
    return render_case(request, pk, bound={key: form}, status=403 if exc.status_code == 403 else 400)


@login_required
@require_POST
def case_executive(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_get_for_user(user=request.user, pk=pk, for_change=True)
    form = ExecutiveRequestForm(request.POST)
    if not form.is_valid():
        return render_case(request, pk, bound={"executive": form}, status=400)
    try:
        made = executive_escalation_request(
            incident=incident, reason=form.cleaned_data["reason"], actor=request.user, now=timezone.now()
        )
    except ServiceError as exc:
        return _refused(request, pk, "executive", form, exc)
    if made.escalation_id is not None:
        messages.success(request, f"Escalated to the executive rung: the objective trigger “{made.trigger}” holds.")
    else:
        messages.success(request, "Executive escalation requested: a Manager will approve or deny it.")
    return redirect(case_url(pk, "valves"))


@login_required
@require_POST
def case_credit(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_get_for_user(user=request.user, pk=pk, for_change=True)
    form = CreditRequestForm(request.POST, breaches=credit_breaches_open(incident))
    if not form.is_valid():
        return render_case(request, pk, bound={"credit": form}, status=400)
    data = form.cleaned_data
    try:
        made = service_credit_request(
            incident=incident,
            breaches=data["breaches"],
            amount=data["amount"] if data["amount"] is not None else "",
            justification=data["justification"],
            actor=request.user,
            now=timezone.now(),
        )
    except ServiceError as exc:
        return _refused(request, pk, "credit", form, exc)
    messages.success(request, f"Service credit of {made.amount} USD requested: a Manager will approve or deny it.")
    return redirect(case_url(pk, "valves"))


# --- The approvals page ----------------------------------------------------------------------


def approvals_page(request: HttpRequest, *, bound: dict | None = None, status: int = 200) -> HttpResponse:
    """Pending executive escalations and service credits, oldest first, each with its
    approve / deny form (Managers; Duty Managers see the list read-only). Four queries
    besides the session's, whatever the number of requests."""
    bound = bound or {}
    executive = executive_requests_pending()
    credits = credit_requests_pending()
    for row in executive:
        row.form = bound.get(("executive", row.pk)) or DecisionForm(prefix=f"x{row.pk}")
        row.refusal = decision_refusal(request.user, row.requested_by_id)
    for row in credits:
        row.form = bound.get(("credit", row.pk)) or DecisionForm(prefix=f"c{row.pk}")
        row.refusal = decision_refusal(request.user, row.requested_by_id)
    context = {
        "executive": executive,
        "credits": credits,
        "may_decide": may_decide_valves(request.user),
    }
    return render(request, "escalations/manage/approvals.html", context, status=status)


@login_required
def approvals(request: HttpRequest) -> HttpResponse:
    require_manager_pages(request)
    return approvals_page(request)


def _decide(request: HttpRequest, pk: int, *, kind: str, prefix: str, service) -> HttpResponse:
    require_manager_pages(request)
    form = DecisionForm(request.POST, prefix=f"{prefix}{pk}")
    if not form.is_valid():
        return approvals_page(request, bound={(kind, pk): form}, status=400)
    approve = form.cleaned_data["decision"] == "approve"
    try:
        decided = service(
            request=pk,
            approve=approve,
            reason=form.cleaned_data["decision_reason"],
            actor=request.user,
            now=timezone.now(),
        )
    except ServiceError as exc:
        put_service_error(form, exc)
        return approvals_page(request, bound={(kind, pk): form}, status=403 if exc.status_code == 403 else 400)
    messages.success(
        request, f"{decided.incident.reference}: {decided.get_status_display().lower()}. The requester is told."
    )
    return redirect("escalations:manage-approvals")


@login_required
@require_POST
def approve_executive(request: HttpRequest, pk: int) -> HttpResponse:
    require_manager_pages(request)
    _exists(ExecutiveEscalationRequest, pk)
    return _decide(request, pk, kind="executive", prefix="x", service=executive_escalation_decide)


@login_required
@require_POST
def approve_credit(request: HttpRequest, pk: int) -> HttpResponse:
    require_manager_pages(request)
    _exists(ServiceCreditRequest, pk)
    return _decide(request, pk, kind="credit", prefix="c", service=service_credit_decide)


def _exists(model, pk: int) -> None:
    if not model.objects.filter(pk=pk).exists():
        raise Http404("No such request.")
