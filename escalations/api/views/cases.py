"""Cases: list, detail, edit, and the state actions."""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from escalations import services
from escalations.api import serializers as s
from escalations.api.filters import FilterBackend
from escalations.api.incident_json import (
    incident_json,
    rows_json,
)
from escalations.api.pagination import IncidentPagination
from escalations.api.schema import IF_MATCH, READ, READ_ONE, WRITE, WRITE_ONE, errors
from escalations.api.views.base import (
    ADD,
    CHANGE,
    VIEW,
    ApiView,
    created_response,
    expected_version,
    incident_queryset,
    incident_response,
)
from escalations.filtersets import IncidentFilterSet
from escalations.models import (
    Incident,
)
from escalations.selectors.cases import (
    QUEUE_ORDER,
    incident_get_for_user,
    incident_list,
)

# --- Cases ------------------------------------------------------------------------------


class IncidentListView(ApiView):
    required_perms = {"GET": (VIEW,), "POST": (ADD,)}
    filter_backends = [FilterBackend]
    filterset_class = IncidentFilterSet
    pagination_class = IncidentPagination
    queryset = Incident.objects.none()  # for the schema; get() builds the real one

    @extend_schema(
        operation_id="incidents_list",
        responses={200: s.IncidentOut(many=True), **errors(400, *READ)},
        summary="List cases (filter, order, paginate)",
    )
    def get(self, request: Request) -> Response:
        now = timezone.now()
        # The vetted accessor decides access; the API reads only what IncidentOut shows.
        # Without ?ordering= the list is in the work queues' order.
        qs = self.filter_queryset(incident_list(user=request.user).order_by(*QUEUE_ORDER))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(rows_json(page, now=now))

    @extend_schema(
        operation_id="incidents_create",
        request=s.IncidentCreateIn,
        responses={201: s.IncidentOut, **errors(*WRITE)},
        summary="Open a case",
    )
    def post(self, request: Request) -> Response:
        now = timezone.now()
        data = self.validated(s.IncidentCreateIn, now=now)
        incident = services.incident_create(actor=request.user, now=now, **data)
        return created_response(incident, now=now)


class IncidentDetailView(ApiView):
    required_perms = {"GET": (VIEW,), "PATCH": (CHANGE,)}

    @extend_schema(operation_id="incidents_retrieve", responses={200: s.IncidentOut, **errors(*READ_ONE)})
    def get(self, request: Request, pk: int) -> Response:
        now = timezone.now()
        incident = incident_get_for_user(user=request.user, pk=pk, queryset=incident_queryset())
        response = Response(incident_json(incident, now=now))
        response["ETag"] = f'"{incident.version}"'
        return response

    @extend_schema(
        operation_id="incidents_partial_update",
        request=s.IncidentPatchIn,
        parameters=[IF_MATCH],
        responses={200: s.IncidentOut, **errors(*WRITE_ONE)},
        summary="Edit details, impact facts, owners, severity or stage",
        description="Details, impact facts and owners are edited together; `severity` (with `severity_reason`) "
        "and `stage` (with `stage_reason` when it moves back) move through their own rules. All or nothing. "
        "Read-only fields are refused (400). With `version` (or If-Match), the edit is stale (412) only when a "
        "field it changes or relies on changed since that version, as on the case page.",
    )
    def patch(self, request: Request, pk: int) -> Response:
        incident_get_for_user(user=request.user, pk=pk, for_change=True)
        data = self.validated(s.IncidentPatchIn)
        version = expected_version(request, data)
        now = timezone.now()
        services.incident_patch(incident=pk, actor=request.user, now=now, expected_version=version, **data)
        return incident_response(pk, now=now)


class IncidentActionView(ApiView):
    """POST /incidents/{id}/<action>/: one service call, returning the updated case."""

    required_perms = {"POST": (CHANGE,)}
    input_class: ClassVar[type[s.VersionedInput]]

    def perform(self, *, pk: int, data: dict, actor: Any, now: Any, version: int | None) -> None:
        raise NotImplementedError

    def post(self, request: Request, pk: int) -> Response:
        incident_get_for_user(user=request.user, pk=pk, for_change=True)
        data = self.validated(self.input_class)
        version = expected_version(request, data)
        now = timezone.now()
        self.perform(pk=pk, data=data, actor=request.user, now=now, version=version)
        return incident_response(pk, now=now)


def action_schema(name: str, input_class: type[s.VersionedInput], summary: str) -> Any:
    return extend_schema(
        operation_id=f"incidents_{name}",
        request=input_class,
        parameters=[IF_MATCH],
        responses={200: s.IncidentOut, **errors(*WRITE_ONE)},
        summary=summary,
    )


class AcknowledgeView(IncidentActionView):
    input_class = s.AckIn

    @action_schema("acknowledge", s.AckIn, "Acknowledge (stops the TTA clock)")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def perform(self, *, pk: int, data: dict, actor: Any, now: Any, version: int | None) -> None:
        services.incident_acknowledge(incident=pk, actor=actor, now=now, expected_version=version)


class PauseView(IncidentActionView):
    input_class = s.PauseIn

    @action_schema("pause", s.PauseIn, "Pause the clocks (waiting on the customer or a third party)")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def perform(self, *, pk: int, data: dict, actor: Any, now: Any, version: int | None) -> None:
        services.incident_pause(
            incident=pk, reason=data["reason"], note=data["note"], actor=actor, now=now, expected_version=version
        )


class ResumeView(IncidentActionView):
    input_class = s.ResumeIn

    @action_schema("resume", s.ResumeIn, "Resume the clocks")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def perform(self, *, pk: int, data: dict, actor: Any, now: Any, version: int | None) -> None:
        services.incident_resume(incident=pk, actor=actor, now=now, expected_version=version)


class ResolveView(IncidentActionView):
    input_class = s.ResolveIn

    @action_schema("resolve", s.ResolveIn, "Resolve (ends the resolve cycle)")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def perform(self, *, pk: int, data: dict, actor: Any, now: Any, version: int | None) -> None:
        services.incident_resolve(
            incident=pk, resolution=data["resolution"], actor=actor, now=now, expected_version=version
        )


class ReopenView(IncidentActionView):
    input_class = s.ReopenIn

    @action_schema("reopen", s.ReopenIn, "Reopen (starts a new resolve cycle)")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def perform(self, *, pk: int, data: dict, actor: Any, now: Any, version: int | None) -> None:
        services.incident_reopen(incident=pk, reason=data["reason"], actor=actor, now=now, expected_version=version)


class CloseView(IncidentActionView):
    input_class = s.CloseIn

    @action_schema("close", s.CloseIn, "Close a resolved case")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def perform(self, *, pk: int, data: dict, actor: Any, now: Any, version: int | None) -> None:
        services.incident_close(incident=pk, actor=actor, now=now, expected_version=version)


class SeverityView(IncidentActionView):
    input_class = s.SeverityIn

    @action_schema("severity", s.SeverityIn, "Change the severity (with a reason)")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def perform(self, *, pk: int, data: dict, actor: Any, now: Any, version: int | None) -> None:
        services.incident_change_severity(
            incident=pk,
            severity=data["severity"],
            reason=data["reason"],
            actor=actor,
            now=now,
            expected_version=version,
        )
