"""Intake signals from integrations, and API tokens."""

from __future__ import annotations

from typing import ClassVar

from django.contrib.auth import authenticate
from django.db import IntegrityError
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from escalations import services
from escalations.api import reference_serializers as r
from escalations.api import serializers as s
from escalations.api.schema import errors
from escalations.api.throttles import ScopedThrottle
from escalations.api.views.base import (
    ApiView,
)
from escalations.errors import ServiceError
from escalations.models.cases import reference_for
from escalations.services.intake import incident_for_signal
from escalations.services.notifications import case_url as case_link
from escalations.services.tokens import token_issue_for_password

# --- Intake and tokens ------------------------------------------------------------------


class IntakeView(ApiView):
    """Signals from monitoring and CRM integrations. An integration is a user (see
    `manage.py integration_create`) whose token authenticates it; the case is opened as
    that user. Idempotent on (integration, channel, external_id): a repeat returns the
    case that integration opened, with 200, instead of opening a second one; another
    integration's same id is its own case."""

    required_perms = {"POST": ("escalations.submit_intake",)}
    throttle_classes = [ScopedThrottle]
    throttle_scope = "intake"

    @extend_schema(
        operation_id="intake_create",
        request=s.IntakeIn,
        responses={
            201: OpenApiResponse(s.IntakeOut, description="A new case."),
            200: OpenApiResponse(s.IntakeOut, description="The case already opened for this external_id."),
            **errors(400, 401, 403, 429),
        },
        summary="Raise a case from an integration (idempotent on external_id)",
    )
    def post(self, request: Request) -> Response:
        now = timezone.now()
        data = self.validated(s.IntakeIn, now=now)
        try:
            incident = services.incident_create(actor=request.user, now=now, **data)
        except (IntegrityError, ServiceError) as exc:
            # A repeat of a signal (or two deliveries racing): the unique constraint on
            # (channel, external_id) refuses the second case, the service rolls it back
            # and reports a "duplicate". Answer with the case already opened. (No look-up
            # first: repeats are rare, and the constraint is the one reliable check.)
            if isinstance(exc, ServiceError) and exc.code != "duplicate":
                raise
            existing = incident_for_signal(actor=request.user, channel=data["channel"], external_id=data["external_id"])
            if existing is None:
                raise
            return self._answer(existing.pk, existing.status, status_code=status.HTTP_200_OK)
        return self._answer(incident.pk, incident.status, status_code=status.HTTP_201_CREATED)

    @staticmethod
    def _answer(pk: int, case_status: str, *, status_code: int) -> Response:
        body = {"id": pk, "reference": reference_for(pk), "status": case_status, "url": case_link(pk)}
        return Response(body, status=status_code)


class TokenView(ApiView):
    """Exchange a username and password for a new API token that expires after
    API_TOKEN_TTL_HOURS. Throttled per client address ("auth" rate), and locked out per
    username and per address after repeated failures (django-axes: 429 "locked_out").
    Superusers get no token this way (services.security.token_issue_for_password)."""

    permission_classes = [AllowAny]
    authentication_classes: ClassVar[list] = []
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth"

    @extend_schema(
        operation_id="auth_token",
        request=r.TokenIn,
        responses={200: r.TokenOut, **errors(400, 403, 429)},
        auth=[],
        summary="Obtain an API token",
    )
    def post(self, request: Request) -> Response:
        data = self.validated(r.TokenIn)
        user = authenticate(request=request._request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            raise exceptions.ValidationError(
                {"non_field_errors": ["Unable to log in with these credentials."]}, code="invalid_credentials"
            )
        token, key = token_issue_for_password(user=user)
        return Response({"token": key, "expiry": token.expiry})
