"""Work queues: open cases, breached first then by the nearest deadline, with live
countdowns. Each person lands on the queue they opened last (Mine at first)."""

from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import cached_property

from escalations.choices import FIRST_WORK_QUEUE, WORK_QUEUES
from escalations.filtersets import IncidentFilterSet
from escalations.forms.cases import fast_select
from escalations.models import StaffProfile
from escalations.security.access import user_is_staff_member
from escalations.selectors.cases import queue_list
from escalations.services.profiles import staff_profile_set_queue
from escalations.views.common import login_required

PAGE_SIZE = 50


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP rows: an exact COUNT(*) over 100,000 open cases costs more
    than the page itself, and nobody pages past the first few hundred rows of a queue
    (they filter). Pages beyond the cap are not offered."""

    COUNT_CAP = 10_000

    @cached_property
    def count(self) -> int:
        # SELECT COUNT(*) FROM (SELECT … LIMIT cap+1): an index range scan that stops early.
        return self.object_list[: self.COUNT_CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.COUNT_CAP


class QueueFilterSet(IncidentFilterSet):
    """The shared filters with widgets that suit a form in a page header."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fields = self.form.fields
        fields["severity"].widget = forms.CheckboxSelectMultiple(choices=fields["severity"].choices)
        fast_select(fields["status"], multiple=True)
        fields["status"].widget.attrs["size"] = 3
        fast_select(fields["customer"])
        fast_select(fields["team"])
        fields["q"].widget.attrs.update(placeholder="ESC-000123, title or customer", type="search")
        for name in ("breached", "is_drill"):
            fields[name].widget = any_yes_no()


def any_yes_no() -> forms.NullBooleanSelect:
    """A yes/no filter whose blank reads "Any" (Django's says "Unknown")."""
    widget = forms.NullBooleanSelect()
    widget.choices = [("unknown", "Any"), ("true", "Yes"), ("false", "No")]
    return widget


def _queue_for(request: HttpRequest) -> str:
    """The queue asked for (remembered for next time), else the one opened last, else Mine."""
    try:
        remembered = request.user.profile.queue  # loaded by the time-zone middleware
    except StaffProfile.DoesNotExist:
        remembered = FIRST_WORK_QUEUE
    asked = request.GET.get("queue")
    if not asked:
        return remembered
    if asked != remembered and asked in WORK_QUEUES and user_is_staff_member(request.user):
        staff_profile_set_queue(user=request.user, queue=asked, actor=request.user)
    return asked


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    queue_key = _queue_for(request)
    now = timezone.now()
    # queue_list checks access (403 for people without the case role, 404 for an unknown queue).
    rows = queue_list(user=request.user, queue=queue_key, now=now)
    # Join only what a row shows: every join also adds to PostgreSQL's planning time.
    rows = rows.select_related(None).select_related("customer", "stage_dri")
    filterset = QueueFilterSet(request.GET or None, queryset=rows)
    page = CappedPaginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "escalations/queue.html",
        {
            "queues": WORK_QUEUES,
            "queue_key": queue_key,
            "filter": filterset,
            "page": page,
            "now": now,
        },
    )
