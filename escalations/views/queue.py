"""Work queues: open cases sorted by the nearest deadline, with live countdowns."""

from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import cached_property

from escalations.filtersets import IncidentFilterSet
from escalations.forms import fast_select
from escalations.selectors import QUEUES, queue_list
from escalations.views.common import login_required

PAGE_SIZE = 50
DEFAULT_QUEUE = "all"


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


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    queue_key = request.GET.get("queue") or DEFAULT_QUEUE
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
            "queues": QUEUES,
            "queue_key": queue_key,
            "filter": filterset,
            "page": page,
            "now": now,
        },
    )
