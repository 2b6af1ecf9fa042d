"""The paging inbox: in-app pages for the signed-in person, newest first, unread ones
marked "New" until read or acknowledged, each with a one-click acknowledge; "Mark all
read"; drill pages apart; and the handoffs waiting for their answer."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from escalations.choices import NotificationChannel
from escalations.models import Notification
from escalations.selectors import handoff_inbox, handoffs_mark_expired
from escalations.services.notifications import notifications_mark_read
from escalations.views.common import login_required, require_perm

PAGE_SIZE = 50
DRILL_ROWS = 20


@login_required
def pages(request: HttpRequest) -> HttpResponse:
    require_perm(request, "escalations.view_incident")
    mine = (
        Notification.objects.filter(recipient=request.user, channel=NotificationChannel.IN_APP)
        .select_related("incident", "incident__customer", "incident__acknowledged_by")
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
            "can_work": request.user.has_perm("escalations.change_incident"),
        },
    )


@login_required
@require_POST
def pages_mark_read(request: HttpRequest) -> HttpResponse:
    require_perm(request, "escalations.view_incident")
    count = notifications_mark_read(user=request.user, now=timezone.now())
    messages.success(request, f"{count} page(s) marked read." if count else "Nothing unread.")
    return redirect("escalations:pages")
