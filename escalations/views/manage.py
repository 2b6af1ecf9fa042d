"""The managers' side: its landing page. Every view here and in the manager modules
starts with ``require_manager_pages`` (a 404 for CS Agents and Engineers)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from escalations.views.common import login_required, require_manager_pages


@login_required
def manage_index(request: HttpRequest) -> HttpResponse:
    require_manager_pages(request)
    return render(request, "escalations/manage/index.html", {})
