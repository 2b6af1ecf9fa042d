"""Root cause analyses: one case's RCA page (read by whoever may see the case, written by
``access.may_edit_postmortem``), and the managers' list of open and overdue RCAs and
action items (``require_manager_pages`` first, like every manager page)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from escalations.choices import ClockKind
from escalations.errors import ServiceError
from escalations.forms.cases import put_service_error, workers
from escalations.forms.rca import ActionItemFormSet, PostmortemForm, share_owner_choices
from escalations.models import Incident, Postmortem, PostmortemStatus
from escalations.security.access import may_edit_postmortem
from escalations.selectors.cases import incident_get_for_user
from escalations.selectors.rca import (
    breach_causes,
    open_postmortems,
    overdue_action_items,
    postmortem_page_get,
    rca_timeline,
)
from escalations.services.postmortems import postmortem_write
from escalations.views.common import login_required, require_manager_pages

PAGE_SIZE = 50


def _initial(postmortem: Postmortem | None) -> tuple[dict, list[dict]]:
    if postmortem is None:
        return {"status": PostmortemStatus.DRAFT}, []
    values = {
        name: getattr(postmortem, name)
        for name in ("summary", "root_cause", "contributing_factors", "what_went_well", "what_went_wrong", "status")
    }
    items = [
        {
            "id": item.pk,
            "description": item.description,
            "owner": item.owner_id,
            "due_date": item.due_date,
            "done": item.done_at is not None,
        }
        for item in postmortem.items
    ]
    return values, items


def _render(
    request: HttpRequest,
    incident: Incident,
    postmortem: Postmortem | None,
    *,
    may_edit: bool,
    form: PostmortemForm | None = None,
    items=None,
    status: int = 200,
) -> HttpResponse:
    now = timezone.now()
    context = {
        "incident": incident,
        "postmortem": postmortem,
        "overdue": bool(postmortem and postmortem.is_open and postmortem.due_at and postmortem.due_at <= now),
        "timeline": rca_timeline(incident=incident),
        "breaches": breach_causes(incident=incident),
        "clock_labels": dict(ClockKind.choices),
        "may_edit": may_edit,
        "now": now,
    }
    if may_edit:
        if form is None:
            values, rows = _initial(postmortem)
            form = PostmortemForm(initial=values)
            items = ActionItemFormSet(initial=rows, prefix="items", form_kwargs={"people": workers()})
        share_owner_choices(items)
        context["form"] = form
        context["items"] = items
    return render(request, "escalations/rca.html", context, status=status)


@login_required
def case_rca(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the RCA with the case's timeline and breach causes, and its form for those who
    may write it. POST: save the RCA and its action items in one go (all or nothing)."""
    if request.method != "POST":
        incident = incident_get_for_user(user=request.user, pk=pk)
        postmortem = postmortem_page_get(incident=incident)
        return _render(request, incident, postmortem, may_edit=may_edit_postmortem(request.user, incident))
    # As every case action: a case the user may not change is a 404 (or a 403 for someone
    # who changes no case at all), then the RCA permission.
    incident = incident_get_for_user(user=request.user, pk=pk, for_change=True)
    if not may_edit_postmortem(request.user, incident):
        raise PermissionDenied("You may read this RCA but not change it.")
    postmortem = postmortem_page_get(incident=incident)
    form = PostmortemForm(request.POST)
    items = ActionItemFormSet(request.POST, prefix="items", form_kwargs={"people": workers()})
    if form.is_valid() and items.is_valid():
        rows = [row for row in (f.as_input() for f in items.forms) if row is not None]
        try:
            postmortem_write(
                incident=incident, actor=request.user, now=timezone.now(), values=form.cleaned_data, items=rows
            )
        except ServiceError as exc:
            put_service_error(form, exc)
        else:
            messages.success(request, "RCA saved.")
            return redirect(reverse("escalations:case-rca", args=[incident.pk]))
    return _render(request, incident, postmortem, may_edit=True, form=form, items=items, status=400)


@login_required
def manage_rcas(request: HttpRequest) -> HttpResponse:
    """Open RCAs (soonest due first, overdue marked) and overdue action items."""
    require_manager_pages(request)
    now = timezone.now()
    page = Paginator(open_postmortems(), PAGE_SIZE).get_page(request.GET.get("page"))
    for postmortem in page:
        postmortem.overdue_for = now - postmortem.due_at if postmortem.due_at and postmortem.due_at <= now else None
    overdue_items = overdue_action_items(now=now)
    overdue_count = open_postmortems().filter(due_at__lte=now).count()
    return render(
        request,
        "escalations/manage/rcas.html",
        {
            "page": page,
            "now": now,
            "overdue_items": overdue_items,
            "overdue_count": overdue_count,
        },
    )
