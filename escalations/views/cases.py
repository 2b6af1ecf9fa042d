"""The case page's actions (the page itself: escalations.views.case_page).

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

from escalations.forms import cases as f
from escalations.models import ChecklistItem, HandoffPacket, Incident
from escalations.selectors.cases import (
    handoff_get_for_user,
    incident_get_for_user,
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
from escalations.views.case_page import render_case
from escalations.views.common import case_url, login_required, safe_next

CONFLICT_MESSAGE = "This case was changed by someone else since you opened it."


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
def case_log_channel(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        key="log_channel",
        form=f.LogChannelForm(request.POST),
        rebind=f.LogChannelForm,
        call=lambda inc, d, now: incident_update(
            incident=inc, channel=d["channel"], actor=request.user, now=now, expected_version=_version(d)
        ),
        done=lambda inc: f"Logged on {inc.channel.name}: the clocks are running.",
        anchor="clocks",
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
            incident=inc,
            stage=d["stage"],
            reason=d["reason"],
            actor=request.user,
            now=now,
            expected_version=_version(d),
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
    messages.success(request, f"{'Done' if item.is_done else 'Reopened'}: {item.text}")
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
