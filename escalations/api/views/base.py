"""What every endpoint shares: the base view, the version the caller holds, case responses."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from django.db.models import QuerySet
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from escalations.api.incident_json import (
    INCIDENT_JSON_COLUMNS,
    incident_json,
)
from escalations.api.permissions import RolePermission
from escalations.api.renderers import FastJSONRenderer
from escalations.models import (
    Incident,
)

VIEW = "escalations.view_incident"
ADD = "escalations.add_incident"
CHANGE = "escalations.change_incident"

_VERSION_TAG = re.compile(r'^(?:W/)?"?(\d{1,9})"?$', re.ASCII)


class ApiView(GenericAPIView):
    """Base of every endpoint: JSON in and out, role permissions per method."""

    permission_classes = [RolePermission]
    parser_classes = [JSONParser]
    renderer_classes = [FastJSONRenderer]
    required_perms: ClassVar[dict[str, tuple[str, ...]]] = {}
    # Only the big lists paginate (they say so); a case's own lists are returned whole.
    pagination_class = None
    # Set per view for the schema; the views pick input/output serializers explicitly.
    serializer_class = serializers.Serializer

    def validated(self, serializer_class: type[serializers.Serializer], **context: Any) -> dict:
        serializer = serializer_class(data=self.request.data, context={"request": self.request, **context})
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


def expected_version(request: Request, data: dict) -> int | None:
    """The version the caller holds: body ``version`` or the If-Match header (one entity
    tag, quotes and W/ optional; ``*`` means any). Both given must agree."""
    body = data.pop("version", None)
    header = request.headers.get("If-Match", "").strip()
    from_header = None
    if header and header != "*":
        match = _VERSION_TAG.match(header)
        if match is None:
            raise exceptions.ValidationError(
                {"version": ['If-Match must carry one case version, e.g. "7".']}, code="invalid"
            )
        from_header = int(match.group(1))
    if body is not None and from_header is not None and body != from_header:
        raise exceptions.ValidationError(
            {"version": ["The body's version and the If-Match header disagree."]}, code="invalid"
        )
    return body if body is not None else from_header


def incident_queryset(qs: QuerySet[Incident] | None = None) -> QuerySet[Incident]:
    """What IncidentOut reads and nothing more: its columns and the channel's slug. The
    pauses (for the clocks) come in one more query, pauses_by_incident."""
    qs = Incident.objects.all() if qs is None else qs
    return qs.select_related(None).select_related("channel").only(*INCIDENT_JSON_COLUMNS, "channel__slug")


def created_response(incident: Incident, *, now: Any) -> Response:
    """201 with the case the intake service just wrote, rendered from the instance it
    returned (every field is as stored, and a new case has no pauses): no re-read."""
    response = Response(incident_json(incident, now=now, pauses=[]), status=status.HTTP_201_CREATED)
    response["ETag"] = f'"{incident.version}"'
    return response


def incident_response(pk: int, *, now: Any, status_code: int = status.HTTP_200_OK) -> Response:
    """A case freshly read after a write, with its version as the ETag."""
    incident = incident_queryset().get(pk=pk)
    response = Response(incident_json(incident, now=now), status=status_code)
    response["ETag"] = f'"{incident.version}"'
    return response
