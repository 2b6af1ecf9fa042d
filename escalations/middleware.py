"""Show times in the viewer's zone (their profile's, else DEFAULT_VIEWER_TIMEZONE)."""

from __future__ import annotations

import time
import zoneinfo

from django.conf import settings
from django.utils import timezone


class ViewerTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = settings.DEFAULT_VIEWER_TIMEZONE
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            try:
                profile = user.profile
            except user.__class__.profile.RelatedObjectDoesNotExist:  # no profile yet: default zone
                profile = None
            if profile is not None:
                name = profile.timezone
        try:
            timezone.activate(zoneinfo.ZoneInfo(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo("UTC"))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class PermissionsPolicyMiddleware:
    """Refuse browser features the app never uses (PERMISSIONS_POLICY) on every answer."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.PERMISSIONS_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy:
            response.headers.setdefault("Permissions-Policy", self.policy)
        return response


class SessionIdleTimeoutMiddleware:
    """Sessions end after SESSION_COOKIE_AGE (SESSION_IDLE_TIMEOUT_HOURS) without a
    request, not that long after sign-in: a signed-in user's session is saved again,
    which pushes its expiry (database and cookie) forward, once it is more than
    SESSION_IDLE_REFRESH_SECONDS old. Saving on every request would cost a write per page."""

    KEY = "_idle_refreshed_at"

    def __init__(self, get_response):
        self.get_response = get_response
        self.refresh_seconds = settings.SESSION_IDLE_REFRESH_SECONDS

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            if now - request.session.get(self.KEY, 0) >= self.refresh_seconds:
                request.session[self.KEY] = now
        return self.get_response(request)
