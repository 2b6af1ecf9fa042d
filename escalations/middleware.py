"""Show times in the viewer's zone (their profile's, else DEFAULT_VIEWER_TIMEZONE)."""

from __future__ import annotations

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
