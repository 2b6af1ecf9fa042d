"""The Django admin for trusted administrators (Policy Admins, Managers, superusers).

Split by kind: ``reference`` (configuration, plain audited saves), ``cases`` (cases go
through the services), ``case_rows`` (the rows the services write, read-only; RCAs) and ``ops`` (engine
bookkeeping). Every model is registered
with simple-history's history view."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from escalations.admin import case_rows, cases, digests, ops, reference, security, valves  # noqa: F401  (registers the ModelAdmins)
from escalations.models import SweepHeartbeat

admin.site.site_header = "Escalations administration"
admin.site.site_title = "Escalations admin"
admin.site.index_title = "Policies, teams and the record"

_index = admin.site.index


def _index_with_last_sweep(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """The admin index shows when the breach sweep last ran and what it found (see
    templates/admin/index.html): a dead beat must be visible at a glance. Wrapping the
    default site's view is the smallest hook; it is installed before the site's URLs are
    built (autodiscover runs at startup, config.urls reads admin.site.urls afterwards)."""
    context = dict(extra_context or {})
    if request.user.has_perm("escalations.view_sweepheartbeat"):
        context["last_sweep"] = SweepHeartbeat.objects.order_by("-finished_at").first()
        context["show_last_sweep"] = True
    return _index(request, extra_context=context)


admin.site.index = _index_with_last_sweep
