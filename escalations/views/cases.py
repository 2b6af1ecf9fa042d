"""The case page and its actions.

Each action view is a thin door: check access through the selector, validate the form,
call ONE service with ``now`` and the version the page was rendered from, then redirect.
A refusal re-renders the case page with the error on the named field (the database is
unchanged: services are atomic); a version conflict shows what changed and keeps the
person's input with the current version, so they can re-apply it deliberately."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from escalations import forms as f
from escalations.choices import STAGE_ORDER, HandoffStatus
from escalations.models import ChecklistItem, CustomerUpdate, HandoffPacket, Incident
from escalations.selectors import (
    handoff_get_for_user,
    handoffs_mark_expired,
    incident_detail,
    incident_get_for_user,
    incident_timeline,
)
from escalations.services import (
    ServiceError,
    VersionConflict,
    checklist_item_set_done,
    customer_update_post,
    handoff_accept,
    handoff_cancel,
    handoff_offer,
    handoff_reject,
    incident_acknowledge,
    incident_change_severity,
    incident_close,
    incident_pause,
    incident_reopen,
    incident_resolve,
    incident_resume,
    incident_set_stage,
    incident_update,
)
from escalations.services.clocks import incident_clocks
from escalations.services.handoffs import may_answer, may_cancel
from escalations.templatetags.escalations_tags import state_clock
from escalations.views.common import case_url, login_required, safe_next

CONFLICT_MESSAGE = "This case was changed by someone else since you opened it."


# --- The page ---------------------------------------------------------------------------


def _packet_initial(incident: Incident, latest_update: CustomerUpdate | None) -> dict:
    """Pre-fill a handoff packet from the case: what the receiver needs to take over."""
    summary = incident.title
    if latest_update is not None:
        summary += f"\n\nLatest customer update: {latest_update.body}"
    # The trigger explanation already names the severity ("S1: Data risk").
    impact = [incident.trigger_explanation or f"{incident.severity}: set by a person"]
    if incident.arr_at_risk:
        impact.append(f"ARR at risk ${incident.arr_at_risk:,.0f}")
    if incident.users_affected_pct:
        impact.append(f"{incident.users_affected_pct}% of users affected")
    impact += [
        label
        for flag, label in (
            (incident.data_risk, "data risk"),
            (incident.legal_risk, "legal risk"),
            (incident.security_risk, "security issue"),
        )
        if flag
    ]
    items = [item for checklist in incident.checklists.all() for item in checklist.items.all()]
    done = [f"- {item.text}" for item in items if item.done_at]
    todo = [
        f"- {item.text}"
        for item in items
        if not item.done_at and item.required and item.checklist.stage == incident.stage
    ]
    return {
        "version": incident.version,
        "to_stage": incident.stage,
        "summary": summary,
        "customer_impact": "; ".join(impact),
        "actions_taken": "\n".join(done),
        "next_steps": "\n".join(todo),
        "links": incident.bridge_url,
    }


def _default_forms(incident: Incident, people, latest_update: CustomerUpdate | None) -> dict[str, forms.Form]:
    v = {"version": incident.version}
    return {
        "pause": f.PauseForm(initial=v),
        "resume": f.ResumeForm(initial=v),
        "resolve": f.ResolveForm(initial=v),
        "reopen": f.ReopenForm(initial=v),
        "close": f.CloseForm(initial=v),
        "severity": f.SeverityForm(initial={**v, "severity": incident.severity}),
        "stage": f.StageForm(initial={**v, "stage": incident.stage}),
        "update": f.CustomerUpdateForm(initial=v),
        "details": f.DetailsForm(incident=incident, people=people),
        "handoff": f.HandoffOfferForm(initial=_packet_initial(incident, latest_update), people=people),
        "reject": f.HandoffRejectForm(initial=v),
        "ack": f.AcknowledgeForm(),
    }


def render_case(
    request: HttpRequest,
    pk: int,
    *,
    bound: dict[str, forms.Form] | None = None,
    conflict: VersionConflict | None = None,
    status: int = 200,
) -> HttpResponse:
    """The case page. ``bound`` replaces default forms with ones carrying input and errors."""
    now = timezone.now()
    incident = incident_detail(user=request.user, pk=pk)
    can_work = request.user.has_perm("escalations.change_incident")
    pauses = list(incident.pauses.all())
    open_pause = next((p for p in pauses if p.ended_at is None), None)
    clocks = incident_clocks(incident, now=now)
    handoffs = handoffs_mark_expired(list(incident.handoffs.all()))
    pending = next((h for h in handoffs if h.status == HandoffStatus.OFFERED), None)
    last_accepted = max(
        (h for h in handoffs if h.status == HandoffStatus.ACCEPTED),
        key=lambda h: (h.responded_at, h.pk),
        default=None,
    )
    context: dict[str, Any] = {
        "incident": incident,
        "now": now,
        "can_work": can_work,
        "pauses": pauses,
        "open_pause": open_pause,
        "clocks": {
            "ack": state_clock(clocks.ack),
            "resolve": state_clock(clocks.resolve, breached_at=incident.resolve_breached_at),
            "update": state_clock(clocks.update, breached_at=incident.update_breached_at),
        },
        # In playbook order (triage → command → fix → verify), not template-name order.
        "checklists": sorted(incident.checklists.all(), key=lambda c: (STAGE_ORDER.index(c.stage), c.pk)),
        "handoffs": handoffs,
        "pending_handoff": pending,
        "may_answer": bool(pending and can_work and may_answer(pending, request.user)),
        "may_cancel": bool(pending and can_work and may_cancel(pending, request.user)),
        "last_accepted": last_accepted,
        "timeline": incident_timeline(incident=incident, newest_first=True),
        "conflict": conflict,
        "bound": bound or {},
    }
    latest = (
        CustomerUpdate.objects.filter(incident=incident)
        .select_related("posted_by", "channel")
        .order_by("-posted_at", "-id")
        .first()
    )
    context["latest_update"] = latest
    if can_work:
        # Each person picker evaluates this once: a fixed number of queries per page.
        people = f.workers()
        form_set = _default_forms(incident, people, latest if incident.is_open else None)
        form_set.update(bound or {})
        _share_choices(form_set)
        f.limit_stages(form_set["stage"], "stage", incident.stage)
        f.limit_stages(form_set["handoff"], "to_stage", incident.stage)
        context["forms"] = form_set
        context["error_forms"] = [(name, form) for name, form in (bound or {}).items() if form.errors]
    return render(request, "escalations/case_detail.html", context, status=status)


def _share_choices(form_set: dict[str, forms.Form]) -> None:
    """Evaluate the people and team pickers once per page instead of once per field
    (validation still uses each field's queryset; this is rendering only)."""
    pickers = {
        "people": [
            (form_set["details"], "commander"),
            (form_set["details"], "stage_dri"),
            (form_set["handoff"], "to_user"),
        ],
        "teams": [(form_set["details"], "team"), (form_set["handoff"], "to_team")],
    }
    for fields in pickers.values():
        first_form, first_name = fields[0]
        # iter(): list() on the iterator itself would ask its len() first, a COUNT query.
        choices = list(iter(first_form.fields[first_name].choices))
        for form, name in fields:
            form.fields[name].widget.choices = choices


@login_required
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render_case(request, pk)


# --- Actions ----------------------------------------------------------------------------


def _run(
    request: HttpRequest,
    pk: int,
    *,
    key: str,
    form: forms.Form,
    rebind: Callable[[dict], forms.Form],
    call: Callable[[Incident, dict, datetime], Any],
    done: str | Callable[[Any], str],
    anchor: str = "",
) -> HttpResponse:
    """The shared shape of a case action: access, validation, one service call, respond."""
    incident = incident_get_for_user(user=request.user, pk=pk, for_change=True)
    if not form.is_valid():
        return render_case(request, pk, bound={key: form}, status=400)
    try:
        result = call(incident, form.cleaned_data, timezone.now())
    except VersionConflict as exc:
        # Keep the input, move the hidden version to the current one: re-submitting is
        # then a deliberate re-apply over what the other person did.
        data = request.POST.copy()
        data["version"] = str(exc.current_version)
        again = rebind(data)
        again.is_valid()
        again.add_error(None, CONFLICT_MESSAGE)
        return render_case(request, pk, bound={key: again}, conflict=exc, status=409)
    except ServiceError as exc:
        f.put_service_error(form, exc)
        return render_case(request, pk, bound={key: form}, status=403 if exc.status_code == 403 else 400)
    messages.success(request, done(result) if callable(done) else done)
    return redirect(case_url(pk, anchor))


def _version(data: dict) -> int:
    return data["version"]


@login_required
@require_POST
def case_pause(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        key="pause",
        form=f.PauseForm(request.POST),
        rebind=f.PauseForm,
        call=lambda inc, d, now: incident_pause(
            incident=inc, reason=d["reason"], note=d["note"], actor=request.user, now=now, expected_version=_version(d)
        ),
        done="Clock paused.",
    )


@login_required
@require_POST
def case_resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        key="resume",
        form=f.ResumeForm(request.POST),
        rebind=f.ResumeForm,
        call=lambda inc, d, now: incident_resume(
            incident=inc, actor=request.user, now=now, expected_version=_version(d)
        ),
        done="Clock resumed.",
    )


@login_required
@require_POST
def case_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        key="resolve",
        form=f.ResolveForm(request.POST),
        rebind=f.ResolveForm,
        call=lambda inc, d, now: incident_resolve(
            incident=inc, resolution=d["resolution"], actor=request.user, now=now, expected_version=_version(d)
        ),
        done="Case resolved.",
    )


@login_required
@require_POST
def case_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        key="reopen",
        form=f.ReopenForm(request.POST),
        rebind=f.ReopenForm,
        call=lambda inc, d, now: incident_reopen(
            incident=inc, reason=d["reason"], actor=request.user, now=now, expected_version=_version(d)
        ),
        done="Case reopened: a new resolve cycle has started.",
    )


@login_required
@require_POST
def case_close(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        key="close",
        form=f.CloseForm(request.POST),
        rebind=f.CloseForm,
        call=lambda inc, d, now: incident_close(
            incident=inc, actor=request.user, now=now, expected_version=_version(d)
        ),
        done="Case closed.",
    )


@login_required
@require_POST
def case_severity(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        key="severity",
        form=f.SeverityForm(request.POST),
        rebind=f.SeverityForm,
        call=lambda inc, d, now: incident_change_severity(
            incident=inc,
            severity=d["severity"],
            reason=d["reason"],
            actor=request.user,
            now=now,
            expected_version=_version(d),
        ),
        done=lambda inc: f"Severity is now {inc.severity}.",
    )


@login_required
@require_POST
def case_stage(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        key="stage",
        form=f.StageForm(request.POST),
        rebind=f.StageForm,
        call=lambda inc, d, now: incident_set_stage(
            incident=inc, stage=d["stage"], actor=request.user, now=now, expected_version=_version(d)
        ),
        done=lambda inc: f"Stage is now {inc.get_stage_display()}.",
    )


@login_required
@require_POST
def case_update(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        key="update",
        form=f.CustomerUpdateForm(request.POST),
        rebind=f.CustomerUpdateForm,
        call=lambda inc, d, now: customer_update_post(
            incident=inc,
            body=d["body"],
            channel=d["channel"],
            actor=request.user,
            now=now,
            expected_version=_version(d),
        ),
        done="Customer update logged.",
        anchor="clocks",
    )


@login_required
@require_POST
def case_edit(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_get_for_user(user=request.user, pk=pk, for_change=True)
    people = f.workers()

    def bind(data) -> f.DetailsForm:
        # Compared with the case as it is now, so only what the person changed is sent.
        current = Incident.objects.get(pk=incident.pk)
        return f.DetailsForm(data, incident=current, people=people)

    def call(inc: Incident, data: dict, now: datetime) -> Incident:
        return incident_update(
            incident=inc,
            actor=request.user,
            now=now,
            expected_version=data["version"],
            reason=data["reason"],
            **form.changes(),
        )

    form = f.DetailsForm(request.POST, incident=incident, people=people)
    return _run(request, pk, key="details", form=form, rebind=bind, call=call, done="Case details saved.")


@login_required
@require_POST
def case_handoff(request: HttpRequest, pk: int) -> HttpResponse:
    people = f.workers()

    def bind(data) -> f.HandoffOfferForm:
        return f.HandoffOfferForm(data, people=people)

    def call(inc: Incident, d: dict, now: datetime) -> HandoffPacket:
        return handoff_offer(
            incident=inc,
            actor=request.user,
            now=now,
            to_stage=d["to_stage"],
            to_user=d["to_user"],
            to_team=d["to_team"],
            ping_pong_reason=d["ping_pong_reason"],
            expected_version=d["version"],
            **form.packet(),
        )

    form = bind(request.POST)
    return _run(
        request,
        pk,
        key="handoff",
        form=form,
        rebind=bind,
        call=call,
        done=lambda h: f"Handoff offered to {h.to_user or h.to_team}; you stay DRI until it is accepted.",
        anchor="handoffs",
    )


@login_required
@require_POST
def case_checklist_item(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    incident = incident_get_for_user(user=request.user, pk=pk, for_change=True)
    if not ChecklistItem.objects.filter(pk=item_pk, checklist__incident=incident).exists():
        raise Http404("No such checklist item on this case.")
    form = f.ChecklistItemForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Reload the case and tick the item again.")
        return redirect(case_url(pk, "checklist"))
    try:
        item = checklist_item_set_done(
            item=item_pk,
            done=form.cleaned_data["done"],
            actor=request.user,
            now=timezone.now(),
            expected_version=form.cleaned_data["version"],
        )
    except VersionConflict as exc:
        return render_case(request, pk, conflict=exc, status=409)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(case_url(pk, "checklist"))
    messages.success(request, f"{'✔ Done' if item.is_done else 'Reopened'}: {item.text}")
    return redirect(case_url(pk, "checklist"))


# --- Acknowledge (also the target of notification emails) ---------------------------------


@login_required
def case_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: a one-click confirmation page (links in emails must never change anything);
    POST: acknowledge."""
    incident = incident_get_for_user(user=request.user, pk=pk, for_change=True)
    form = f.AcknowledgeForm(
        request.POST if request.method == "POST" else None, initial={"next": request.GET.get("next", "")}
    )
    if request.method == "POST" and form.is_valid():
        try:
            incident_acknowledge(incident=incident, actor=request.user, now=timezone.now())
        except ServiceError as exc:
            f.put_service_error(form, exc)
        else:
            messages.success(request, f"Acknowledged {incident.reference}.")
            return redirect(safe_next(request, form.cleaned_data["next"], case_url(pk)))
    elif request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405)
    status = 400 if form.errors else 200
    return render(request, "escalations/acknowledge.html", {"incident": incident, "form": form}, status=status)


# --- Handoff answers ------------------------------------------------------------------------


def _answer(request: HttpRequest, pk: int, *, key: str, form: forms.Form, call: Callable[[dict], Any], done: str):
    handoff = handoff_get_for_user(user=request.user, pk=pk)
    incident_get_for_user(user=request.user, pk=handoff.incident_id, for_change=True)
    if form.is_valid():
        try:
            call({"handoff": handoff, **form.cleaned_data})
        except VersionConflict as exc:
            return render_case(request, handoff.incident_id, conflict=exc, status=409)
        except ServiceError as exc:
            f.put_service_error(form, exc)
        else:
            messages.success(request, done)
            return redirect(case_url(handoff.incident_id, "handoffs"))
    return render_case(request, handoff.incident_id, bound={key: form}, status=400)


@login_required
@require_POST
def handoff_accept_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(
        request,
        pk,
        key="accept",
        form=f.HandoffAnswerForm(request.POST),
        call=lambda d: handoff_accept(
            handoff=d["handoff"], actor=request.user, now=timezone.now(), expected_version=d["version"]
        ),
        done="Handoff accepted: you are now the stage DRI.",
    )


@login_required
@require_POST
def handoff_reject_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(
        request,
        pk,
        key="reject",
        form=f.HandoffRejectForm(request.POST),
        call=lambda d: handoff_reject(
            handoff=d["handoff"],
            reason=d["reason"],
            actor=request.user,
            now=timezone.now(),
            expected_version=d["version"],
        ),
        done="Handoff rejected; the sender stays DRI.",
    )


@login_required
@require_POST
def handoff_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(
        request,
        pk,
        key="cancel",
        form=f.HandoffAnswerForm(request.POST),
        call=lambda d: handoff_cancel(
            handoff=d["handoff"], actor=request.user, now=timezone.now(), expected_version=d["version"]
        ),
        done="Handoff withdrawn.",
    )
