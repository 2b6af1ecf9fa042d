"""The case page: the facts, the clocks, the customer's problem, the actions' forms, the
checklists, the handoff and the timeline, in a fixed number of queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from escalations.choices import STAGE_ORDER, HandoffStatus, SeverityKey
from escalations.forms import cases as f
from escalations.forms.valves import CreditRequestForm, ExecutiveRequestForm
from escalations.models import CustomerUpdate, Incident
from escalations.security.access import CaseMay, case_may, may_answer_handoff, may_withdraw_handoff
from escalations.selectors.cases import TIMELINE_FILTERS, handoffs_mark_expired, incident_detail, incident_timeline
from escalations.selectors.clocks import incident_clocks
from escalations.selectors.valves import case_valves, executive_availability
from escalations.services import VersionConflict
from escalations.templatetags.escalations_tags import state_clock
from escalations.views.common import login_required

# --- The page ---------------------------------------------------------------------------


def packet_initial(incident: Incident, latest_update: CustomerUpdate | None) -> dict:
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


def _default_forms(
    incident: Incident, people, latest_update: CustomerUpdate | None, may: CaseMay
) -> dict[str, forms.Form]:
    v = {"version": incident.version}
    return {
        "pause": f.PauseForm(initial=v),
        "resume": f.ResumeForm(initial=v),
        "log_channel": f.LogChannelForm(initial=v),
        "resolve": f.ResolveForm(initial=v),
        "reopen": f.ReopenForm(initial=v),
        "close": f.CloseForm(initial=v),
        "severity": f.SeverityForm(initial=v),
        "stage": f.StageForm(initial={**v, "stage": incident.stage}),
        "update": f.CustomerUpdateForm(initial=v),
        "details": f.DetailsForm(incident=incident, people=people, owners_locked=not may.reassign),
        "handoff": f.HandoffOfferForm(initial=packet_initial(incident, latest_update), people=people),
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
    """The case page. ``bound`` replaces default forms with ones carrying input and errors.

    Each action's form is on the page exactly when its POST would be accepted from this
    person: the case's access rule (``access.may_change_case``: a case seen through its
    team's open read access is read-only, and the page says so), then each action's own
    rule from ``security.access`` or the selectors (owners, stage moves and handoffs,
    severities below the floor, answering a handoff, the executive rung, credits)."""
    now = timezone.now()
    user = request.user
    incident = incident_detail(user=user, pk=pk)
    show = request.GET.get("timeline", "all")
    show = show if show in TIMELINE_FILTERS else "all"
    may = case_may(user, incident)
    pauses = list(incident.pauses.all())
    open_pause = next((p for p in pauses if p.ended_at is None), None)
    clocks = incident_clocks(incident, now=now)
    breached = incident.breached_clocks
    handoffs = handoffs_mark_expired(list(incident.handoffs.all()))
    pending = next((h for h in handoffs if h.status == HandoffStatus.OFFERED), None)
    last_accepted = max(
        (h for h in handoffs if h.status == HandoffStatus.ACCEPTED),
        key=lambda h: (h.responded_at, h.pk),
        default=None,
    )
    valves = case_valves(incident, now=now)
    context: dict[str, Any] = {
        "incident": incident,
        "now": now,
        "may": may,
        "breached": breached,
        "pauses": pauses,
        "open_pause": open_pause,
        "business_hours": not clocks.calendar.is_24x7,
        **_elapsed_ticking(clocks.calendar, now),
        "clocks": {
            "ack": state_clock(clocks.ack, breached="ack" in breached),
            "resolve": state_clock(clocks.resolve, breached="resolve" in breached),
            "update": state_clock(clocks.update, breached="update" in breached),
        },
        # In playbook order (triage → command → fix → verify), not template-name order.
        "checklists": _with_counts(sorted(incident.checklists.all(), key=lambda c: (STAGE_ORDER.index(c.stage), c.pk))),
        "handoffs": handoffs,
        "pending_handoff": pending,
        "may_answer": bool(pending and may.change and may_answer_handoff(user, pending)),
        "may_cancel": bool(pending and may.change and may_withdraw_handoff(user, pending)),
        "last_accepted": last_accepted,
        "timeline": incident_timeline(incident=incident, newest_first=True, show=show),
        "timeline_show": show,
        "timeline_filters": [(key, label) for key, (label, _) in TIMELINE_FILTERS.items()],
        "conflict": conflict,
        # What the person sent, shown with the conflict: the action's form may not be on
        # the page any more (a case paused meanwhile shows Resume, not Pause).
        "conflict_input": _sent_values(bound) if conflict else [],
        "bound": bound or {},
        "valves": valves,
        "executive": executive_availability(incident, requests=valves.executive),
    }
    latest = (
        CustomerUpdate.objects.filter(incident=incident)
        .select_related("posted_by", "channel")
        .order_by("-posted_at", "-id")
        .first()
    )
    context["latest_update"] = latest
    if may.change:
        # Each person picker evaluates this once: a fixed number of queries per page.
        people = f.workers()
        form_set = _default_forms(incident, people, latest if incident.is_open else None, may)
        form_set["executive"] = ExecutiveRequestForm()
        form_set["credit"] = CreditRequestForm(breaches=valves.open_breaches)
        form_set.update(bound or {})
        # Only the severities this person may choose (access.severities_open_to); none
        # preselected, so a change is always a choice.
        offered = [(k, label) for k, label in SeverityKey.choices if k in may.severities]
        form_set["severity"].fields["severity"].choices = [("", "Choose a severity"), *offered]
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


def _sent_values(bound: dict[str, forms.Form] | None) -> list[tuple[str, str]]:
    sent = []
    for form in (bound or {}).values():
        for field in form.visible_fields():
            value = field.value()
            if value in (None, "", [], False):
                continue
            chooser = isinstance(field.field, forms.ChoiceField)
            if chooser and not isinstance(field.field, forms.ModelChoiceField):  # a model picker would query
                value = dict(field.field.choices).get(value, value)
            sent.append((str(field.label), str(value)))
    return sent


def _with_counts(checklists: list) -> list:
    """Each checklist with ``done_count`` and ``item_count`` (from the prefetched items),
    for the folded stages' summaries."""
    for checklist in checklists:
        items = list(checklist.items.all())
        checklist.item_count = len(items)
        checklist.done_count = sum(1 for item in items if item.done_at)
    return checklists


def _elapsed_ticking(calendar, now: datetime) -> dict[str, Any]:
    """Whether the elapsed figures count up on the page, and until when: always on a 24×7
    calendar; on business hours only while the calendar is open, up to its closing time
    (counted time stands still outside working hours)."""
    opens, closes = next(calendar.open_intervals(now))
    if calendar.is_24x7:
        return {"clocks_tick": True, "clocks_tick_until": None}
    return {"clocks_tick": opens <= now, "clocks_tick_until": closes if opens <= now else None}
