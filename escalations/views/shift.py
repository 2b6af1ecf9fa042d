"""End of shift: "hand off my open cases" walks the person through one packet per case
they are DRI of, then shows what was handed off."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from escalations.choices import OPEN_STATUSES, HandoffStatus
from escalations.forms import cases as f
from escalations.models import CustomerUpdate, HandoffPacket, Incident
from escalations.security.access import may_hand_off
from escalations.selectors.cases import incident_detail, incident_list
from escalations.services import ServiceError, VersionConflict, handoff_offer
from escalations.views.case_page import packet_initial
from escalations.views.cases import CONFLICT_MESSAGE
from escalations.views.common import login_required, require_perm


def _my_open_cases(user) -> QuerySet[Incident]:
    """Open cases the person is stage DRI of, with whether a handoff already waits."""
    waiting = HandoffPacket.objects.filter(incident=OuterRef("pk"), status=HandoffStatus.OFFERED)
    return (
        incident_list(user=user)
        .filter(status__in=OPEN_STATUSES, stage_dri=user)
        .annotate(handoff_waiting=Exists(waiting))
        .order_by("id")
    )


def _next_after(user, pk: int | None) -> Incident | None:
    qs = _my_open_cases(user).filter(handoff_waiting=False)
    return (qs.filter(pk__gt=pk) if pk else qs).first()


@login_required
def shift_handoff(request: HttpRequest) -> HttpResponse:
    require_perm(request, "escalations.change_incident")
    cases = list(_my_open_cases(request.user))
    first = next((c for c in cases if not c.handoff_waiting), None)
    return render(request, "escalations/shift_handoff.html", {"cases": cases, "first": first})


@login_required
def shift_handoff_case(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "escalations.change_incident")
    incident = incident_detail(user=request.user, pk=pk, for_change=True)
    people = f.workers()
    conflict = None
    status = 200
    if request.method == "POST":
        form = f.HandoffOfferForm(request.POST, people=people)
        if form.is_valid():
            d = form.cleaned_data
            try:
                handoff_offer(
                    incident=incident,
                    actor=request.user,
                    now=timezone.now(),
                    to_stage=d["to_stage"],
                    to_user=d["to_user"],
                    to_team=d["to_team"],
                    ping_pong_reason=d["ping_pong_reason"],
                    expected_version=d["version"],
                    **form.packet(),
                )
            except VersionConflict as exc:
                data = request.POST.copy()
                data["version"] = str(exc.current_version)
                form = f.HandoffOfferForm(data, people=people)
                form.is_valid()
                form.add_error(None, CONFLICT_MESSAGE)
                conflict, status = exc, 409
            except ServiceError as exc:
                f.put_service_error(form, exc)
                status = 400
            else:
                messages.success(request, f"{incident.reference}: handoff offered.")
                return _go_next(request.user, pk)
        else:
            status = 400
    else:
        latest = CustomerUpdate.objects.filter(incident=incident).order_by("-posted_at", "-id").first()
        form = f.HandoffOfferForm(initial=packet_initial(incident, latest), people=people)
    f.limit_stages(form, "to_stage", incident.stage)
    nxt = _next_after(request.user, pk)
    return render(
        request,
        "escalations/shift_handoff_case.html",
        {
            "incident": incident,
            "form": form,
            "conflict": conflict,
            "next_case": nxt,
            # The packet's form only for whom handoff_offer would accept it.
            "may_hand_off": may_hand_off(request.user, incident),
        },
        status=status,
    )


def _go_next(user, pk: int) -> HttpResponse:
    nxt = _next_after(user, pk)
    if nxt is None:
        return redirect("escalations:shift-handoff-done")
    return redirect("escalations:shift-handoff-case", pk=nxt.pk)


@login_required
def shift_handoff_done(request: HttpRequest) -> HttpResponse:
    require_perm(request, "escalations.change_incident")
    cases = list(_my_open_cases(request.user))
    return render(
        request,
        "escalations/shift_handoff_done.html",
        {
            "cases": cases,
            "left": [c for c in cases if not c.handoff_waiting],
            "start": reverse("escalations:shift-handoff"),
        },
    )
