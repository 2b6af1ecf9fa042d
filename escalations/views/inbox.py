"""The paging inbox: in-app pages for the signed-in person, newest first, unread ones
marked "New" until read or acknowledged, each with a one-click acknowledge (of the case
while it is unacknowledged, else of the escalation that paged them); "Mark all read";
drill pages apart; and the handoffs waiting for their answer. Answering an escalation's
page answers its rung (escalations.services.engine.chain)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from escalations.choices import NotificationChannel
from escalations.models import Notification
from escalations.security.access import user_may_change_cases
from escalations.selectors.cases import handoff_inbox, handoffs_mark_expired
from escalations.services.engine.chain import PagesAnswered, pages_acknowledge
from escalations.views.common import login_required, require_perm

PAGE_SIZE = 50
DRILL_ROWS = 20


@login_required
def pages(request: HttpRequest) -> HttpResponse:
    require_perm(request, "escalations.view_incident")
    mine = (
        Notification.objects.filter(recipient=request.user, channel=NotificationChannel.IN_APP)
        .select_related("incident", "incident__customer", "incident__acknowledged_by", "escalation__acknowledged_by")
        .order_by("-created_at", "-id")
    )
    # Drill pages never mix with real ones.
    rows = mine.exclude(incident__is_drill=True)
    drills = list(mine.filter(incident__is_drill=True)[:DRILL_ROWS])
    return render(
        request,
        "escalations/pages.html",
        {
            "page": Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page")),
            "drills": drills,
            "handoffs": handoffs_mark_expired(list(handoff_inbox(user=request.user))),
            # A page makes its case one the person may change (access.incident_access_q).
            "can_work": user_may_change_cases(request.user),
        },
    )


def _answered(request: HttpRequest, said: list[str], answered: PagesAnswered) -> HttpResponse:
    if answered.stopped:
        said.append(f"The escalation chain of {', '.join(answered.stopped)} stops climbing.")
    messages.success(request, " ".join(said))
    return redirect("escalations:pages")


@login_required
@require_POST
def pages_mark_read(request: HttpRequest) -> HttpResponse:
    require_perm(request, "escalations.view_incident")
    answered = pages_acknowledge(user=request.user, now=timezone.now())
    said = [f"{answered.read} page(s) marked read." if answered.read else "Nothing unread."]
    if answered.acknowledged:
        said.append(f"{answered.acknowledged} escalation(s) acknowledged.")
    return _answered(request, said, answered)


@login_required
@require_POST
def page_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    """Acknowledge one of my pages: the escalation that sent it (and my other pages of it)."""
    require_perm(request, "escalations.view_incident")
    page = get_object_or_404(Notification, pk=pk, recipient=request.user, channel=NotificationChannel.IN_APP)
    answered = pages_acknowledge(user=request.user, now=timezone.now(), page=page.pk)
    return _answered(request, ["Escalation acknowledged." if answered.acknowledged else "Marked read."], answered)
