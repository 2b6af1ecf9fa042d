"""Helpers shared by the workspace views."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from escalations.security.access import may_see_manager_pages, user_is_staff_member

__all__ = ["login_required", "require_manager_pages", "require_perm", "safe_next"]


def require_perm(request: HttpRequest, perm: str) -> None:
    """403 unless the signed-in user may see cases and holds ``perm``."""
    if not user_is_staff_member(request.user) or not request.user.has_perm(perm):
        raise PermissionDenied("You do not have access to this page.")


def require_manager_pages(request: HttpRequest) -> None:
    """404 unless the user may see the managers' side (``access.may_see_manager_pages``)."""
    if not may_see_manager_pages(request.user):
        raise Http404("No such page.")


def safe_next(request: HttpRequest, value: str | None, default: str) -> str:
    """A same-site redirect target (an open redirect would let a link in an email send
    people anywhere)."""
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return default


def case_url(pk: int, anchor: str = "") -> str:
    url = reverse("escalations:case-detail", args=[pk])
    return f"{url}#{anchor}" if anchor else url
