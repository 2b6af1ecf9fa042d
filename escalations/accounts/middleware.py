"""Workspace middleware: the viewer's time zone, the Permissions-Policy header, the idle
session timeout, and one-time form tokens."""

from __future__ import annotations

import time
import zoneinfo

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve
from django.utils import timezone

from escalations.services.submissions import FormAlreadySent, parse_token, submission_claim, submission_done


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


class _Refused(Exception):
    def __init__(self, response):
        self.response = response


class OnceFormMiddleware:
    """A workspace form's POST does its work once. Forms carry a one-time ``form_token``
    ({% form_token %}); a repeated POST of the same form (Back and resubmit, a double
    click, a replayed request) is sent to the first POST's result instead of opening a
    second case or posting a second update.

    The token's claim and the POST's work share one transaction: a POST that does not
    end in a redirect (form errors, a refusal, a 404) rolls back with its claim, so the
    corrected form can be sent and a refused request leaves the database as it was. A
    POST to the workspace without a token is refused: every workspace form renders one,
    so its absence means a request no page of ours made, which would otherwise run every
    time it is sent."""

    WORKSPACE = "escalations"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "POST" or not request.user.is_authenticated or not self._workspace(request):
            return self.get_response(request)
        token = parse_token(request.POST.get("form_token"))
        if token is None:
            return HttpResponse(
                "This form was sent without its one-time token, so it was not run. "
                "Reload the page and send the form again.",
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        try:
            with transaction.atomic():
                submission = submission_claim(token=token, user=request.user, now=timezone.now())
                response = self.get_response(request)
                if response.status_code not in (301, 302, 303):
                    raise _Refused(response)
                submission_done(submission=submission, result_url=response["Location"], user=request.user)
        except _Refused as refused:
            return refused.response
        except FormAlreadySent as sent:
            if sent.result_url:
                messages.info(request, "That form was already sent: this is what it did.")
                return redirect(sent.result_url)
            return HttpResponse(
                "This form is already being sent. Wait a moment, then reload the page.",
                status=409,
                content_type="text/plain; charset=utf-8",
            )
        return response

    def _workspace(self, request) -> bool:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return False
        return match.app_name == self.WORKSPACE
