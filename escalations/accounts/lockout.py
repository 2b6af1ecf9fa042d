"""django-axes hooks: the client's address, and the answer to a locked-out sign-in.

Settings in config/settings.py (AXES_*). A locked-out username or address gets a 429
that says for how long, on the web and admin login (a page) and on the token endpoint
(the API's error shape, with Retry-After)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from axes.helpers import get_client_ip_address, get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from escalations.api.errors import error_body


def client_ip(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the address the API throttles count by too. Behind the TLS
    proxy (BEHIND_TLS_PROXY) every request's REMOTE_ADDR is a proxy's: the client's is
    the X-Forwarded-For entry NUM_PROXIES hops from the right, the one the outermost
    trusted proxy appended (entries further left are whatever the client sent). Without
    a proxy the header is the client's to forge, so it is never read."""
    if settings.BEHIND_TLS_PROXY:
        entries = [e.strip() for e in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if e.strip()]
        hops = max(1, settings.REST_FRAMEWORK.get("NUM_PROXIES") or 1)
        if entries:
            return entries[-min(hops, len(entries))]
    return request.META.get("REMOTE_ADDR")


def lockout_remaining(*, username: str | None, ip_address: str | None) -> timedelta:
    """How long until the lockout lifts: the cool-off counts from the latest failure of
    the username or the address."""
    cool_off = get_cool_off() or timedelta(0)
    condition = Q(pk__in=[])
    if username:
        condition |= Q(username=username)
    if ip_address:
        condition |= Q(ip_address=ip_address)
    last = AccessAttempt.objects.filter(condition).aggregate(last=Max("attempt_time"))["last"]
    if last is None:
        return cool_off
    return max(last + cool_off - timezone.now(), timedelta(0))


def lockout_message(remaining: timedelta) -> str:
    minutes = max(1, math.ceil(remaining.total_seconds() / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins: this account or address is locked. Try again in {minutes} {unit}."


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE."""
    remaining = lockout_remaining(
        username=get_client_username(request, credentials), ip_address=get_client_ip_address(request)
    )
    message = lockout_message(remaining)
    retry_after = str(max(1, math.ceil(remaining.total_seconds())))
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(error_body(code="locked_out", message=message), status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = retry_after
    return response
