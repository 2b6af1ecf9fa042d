"""The REST API: thin doors onto the service layer. Each endpoint checks access (role
permission, then the selectors' per-object accessor), validates shape with its input
serializer, reads the clock once, calls one service (or, for PATCH, a few inside one
transaction) and renders with its output serializer. Errors: escalations.api.errors.

Concurrency: PATCH and every action accept the case ``version`` the caller last read,
in the body or as ``If-Match: "<version>"``. It is optional; when given and stale, the
change is refused with 412 (and the current version and what changed) and nothing is
written. Case responses carry ``ETag: "<version>"``.
"""

from __future__ import annotations

import functools
import re
from typing import Any, ClassVar

from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from escalations import services
from escalations.api import serializers as s
from escalations.api.incident_json import (
    INCIDENT_JSON_COLUMNS,
    incident_json,
    incident_rows_by_id,
    rows_json,
)
from escalations.api.permissions import RolePermission
from escalations.api.renderers import FastJSONRenderer
from escalations.api.schema import IF_MATCH, READ, READ_ONE, WRITE, WRITE_ONE, errors
from escalations.api.throttles import ScopedThrottle
from escalations.choices import ClockKind
from escalations.filtersets import FilterSet, IncidentFilterSet
from escalations.metrics import week_parse, weekly_metrics
from escalations.models import (
    Breach,
    ChecklistItem,
    CustomerUpdate,
    HandoffPacket,
    Incident,
    SeverityPolicy,
)
from escalations.models.cases import reference_for
from escalations.pagination import EstimatedCountPaginator, RowsPaginator
from escalations.selectors import (
    breach_list,
    checklist_items_for,
    handoff_get_for_user,
    incident_get_for_user,
    incident_list,
    incident_timeline,
    user_may_work_cases,
)
from escalations.services.common import incident_lock
from escalations.services.errors import ServiceError
from escalations.services.incidents import EDITABLE_FIELDS, IMPACT_FIELDS
from escalations.services.notifications import case_url as case_link
from escalations.services.policies import severity_policy_update
from escalations.services.security import token_issue_for_password

VIEW = "escalations.view_incident"
ADD = "escalations.add_incident"
CHANGE = "escalations.change_incident"

_VERSION_TAG = re.compile(r'^(?:W/)?"?(\d{1,9})"?$', re.ASCII)


class Pagination(PageNumberPagination):
    # An unfiltered list of a big table reports the planner's row estimate as its count
    # (exact below 100,000 rows): counting every case costs a third of the request.
    django_paginator_class = EstimatedCountPaginator
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list | None:
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound as exc:
            # Out-of-range or non-numeric page: name the parameter rather than 404 the list.
            raise exceptions.ValidationError({self.page_query_param: [str(exc.detail)]}, code="invalid_page") from None


class IncidentPagination(Pagination):
    """Pages of cases read as rows: the page's ids, then incident_rows_by_id."""

    django_paginator_class = functools.partial(RowsPaginator, rows=incident_rows_by_id)


class FilterBackend(filters.DjangoFilterBackend):
    """django-filter, skipped when the request names none of the filterset's filters
    (the plain list, its pages): with no values every filter is a no-op anyway, and
    building and validating the filter form was a tenth of such a request."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and request.query_params.keys().isdisjoint(filterset_class.base_filters):
            return queryset
        return super().filter_queryset(request, queryset, view)


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
        qs = self.filter_queryset(incident_list(user=request.user))
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
        "and `stage` move through their own rules. All or nothing. Read-only fields are refused (400).",
    )
    def patch(self, request: Request, pk: int) -> Response:
        incident_get_for_user(user=request.user, pk=pk, for_change=True)
        data = self.validated(s.IncidentPatchIn)
        version = expected_version(request, data)
        severity = data.pop("severity", None)
        severity_reason = data.pop("severity_reason", None)
        stage = data.pop("stage", None)
        if severity_reason is not None and severity is None and not set(data) & set(IMPACT_FIELDS):
            raise exceptions.ValidationError(
                {"severity_reason": ["Give it with severity, or with impact facts that lower the floor."]},
                code="invalid",
            )
        now = timezone.now()
        actor = request.user
        with transaction.atomic():
            # One lock and one version check for the whole PATCH; the services below
            # run inside this transaction, so nobody can interleave between them.
            current = incident_lock(pk, expected_version=version)
            edits = {field: value for field, value in data.items() if field in EDITABLE_FIELDS}
            if edits:
                current = services.incident_update(
                    incident=pk, actor=actor, now=now, reason=severity_reason or "", **edits
                )
            if severity is not None and severity != current.severity:
                current = services.incident_change_severity(
                    incident=pk, severity=severity, reason=severity_reason or "", actor=actor, now=now
                )
            if stage is not None and stage != current.stage:
                services.incident_set_stage(incident=pk, stage=stage, actor=actor, now=now)
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


# --- Customer updates, timeline, checklist ----------------------------------------------


class CustomerUpdateListView(ApiView):
    required_perms = {"GET": (VIEW,), "POST": (CHANGE,)}

    @extend_schema(
        operation_id="incidents_updates_list", responses={200: s.CustomerUpdateOut(many=True), **errors(*READ_ONE)}
    )
    def get(self, request: Request, pk: int) -> Response:
        incident = incident_get_for_user(user=request.user, pk=pk)
        updates = CustomerUpdate.objects.filter(incident=incident).select_related("channel").order_by("posted_at", "id")
        return Response(s.CustomerUpdateOut(updates, many=True).data)

    @extend_schema(
        operation_id="incidents_updates_create",
        request=s.CustomerUpdateIn,
        parameters=[IF_MATCH],
        responses={201: s.CustomerUpdateOut, **errors(*WRITE_ONE)},
        summary="Log an update sent to the customer",
    )
    def post(self, request: Request, pk: int) -> Response:
        incident_get_for_user(user=request.user, pk=pk, for_change=True)
        data = self.validated(s.CustomerUpdateIn)
        version = expected_version(request, data)
        update = services.customer_update_post(
            incident=pk,
            body=data["body"],
            channel=data.get("channel"),
            actor=request.user,
            now=timezone.now(),
            expected_version=version,
        )
        return Response(s.CustomerUpdateOut(update).data, status=status.HTTP_201_CREATED)


class TimelineView(ApiView):
    required_perms = {"GET": (VIEW,)}

    @extend_schema(
        operation_id="incidents_timeline",
        responses={200: s.CaseEventOut(many=True), **errors(*READ_ONE)},
        summary="Every event of the case, oldest first",
    )
    def get(self, request: Request, pk: int) -> Response:
        incident = incident_get_for_user(user=request.user, pk=pk)
        return Response(s.CaseEventOut(incident_timeline(incident=incident, newest_first=False), many=True).data)


class ChecklistView(ApiView):
    required_perms = {"GET": (VIEW,)}

    @extend_schema(
        operation_id="incidents_checklist",
        responses={200: s.ChecklistItemOut(many=True), **errors(*READ_ONE)},
        summary="SOP checklist items of the case",
    )
    def get(self, request: Request, pk: int) -> Response:
        incident = incident_get_for_user(user=request.user, pk=pk)
        return Response(s.ChecklistItemOut(checklist_items_for(incident=incident), many=True).data)


class ChecklistItemCompleteView(ApiView):
    required_perms = {"POST": (CHANGE,)}

    @extend_schema(
        operation_id="checklist_items_complete",
        request=s.ChecklistCompleteIn,
        parameters=[IF_MATCH],
        responses={200: s.ChecklistItemOut, **errors(*WRITE_ONE)},
        summary="Tick (or, with done=false, untick) a checklist item",
    )
    def post(self, request: Request, pk: int) -> Response:
        if not user_may_work_cases(request.user):
            raise PermissionDenied("You may view cases but not change them.")
        incident_id = ChecklistItem.objects.filter(pk=pk).values_list("checklist__incident_id", flat=True).first()
        if incident_id is None:
            raise Http404("No such checklist item.")
        incident_get_for_user(user=request.user, pk=incident_id, for_change=True)
        data = self.validated(s.ChecklistCompleteIn)
        version = expected_version(request, data)
        with transaction.atomic():
            # The service takes no version; checking it under the same lock it takes keeps
            # a stale tick from landing.
            incident_lock(incident_id, expected_version=version)
            services.checklist_item_set_done(item=pk, done=data["done"], actor=request.user, now=timezone.now())
        item = ChecklistItem.objects.select_related("checklist").get(pk=pk)
        return Response(s.ChecklistItemOut(item).data)


# --- Handoffs --------------------------------------------------------------------------


def handoff_queryset() -> QuerySet[HandoffPacket]:
    return HandoffPacket.objects.select_related("incident")


class HandoffListView(ApiView):
    required_perms = {"GET": (VIEW,), "POST": (CHANGE,)}

    @extend_schema(
        operation_id="incidents_handoffs_list", responses={200: s.HandoffOut(many=True), **errors(*READ_ONE)}
    )
    def get(self, request: Request, pk: int) -> Response:
        incident = incident_get_for_user(user=request.user, pk=pk)
        return Response(
            s.HandoffOut(handoff_queryset().filter(incident=incident).order_by("offered_at", "id"), many=True).data
        )

    @extend_schema(
        operation_id="incidents_handoffs_create",
        request=s.HandoffOfferIn,
        parameters=[IF_MATCH],
        responses={201: s.HandoffOut, **errors(*WRITE_ONE)},
        summary="Offer the case to a person or team with a handoff packet",
    )
    def post(self, request: Request, pk: int) -> Response:
        incident_get_for_user(user=request.user, pk=pk, for_change=True)
        data = self.validated(s.HandoffOfferIn)
        version = expected_version(request, data)
        handoff = services.handoff_offer(
            incident=pk, actor=request.user, now=timezone.now(), expected_version=version, **data
        )
        return Response(s.HandoffOut(handoff_queryset().get(pk=handoff.pk)).data, status=status.HTTP_201_CREATED)


class HandoffAnswerView(ApiView):
    required_perms = {"POST": (CHANGE,)}
    input_class: ClassVar[type[s.VersionedInput]]

    def answer(self, *, pk: int, data: dict, actor: Any, now: Any) -> None:
        raise NotImplementedError

    def post(self, request: Request, pk: int) -> Response:
        handoff = handoff_get_for_user(user=request.user, pk=pk)
        incident_get_for_user(user=request.user, pk=handoff.incident_id, for_change=True)
        data = self.validated(self.input_class)
        version = expected_version(request, data)
        with transaction.atomic():
            incident_lock(handoff.incident_id, expected_version=version)
            self.answer(pk=pk, data=data, actor=request.user, now=timezone.now())
        return Response(s.HandoffOut(handoff_queryset().get(pk=pk)).data)


class HandoffAcceptView(HandoffAnswerView):
    input_class = s.HandoffAcceptIn

    @extend_schema(
        operation_id="handoffs_accept",
        request=s.HandoffAcceptIn,
        parameters=[IF_MATCH],
        responses={200: s.HandoffOut, **errors(*WRITE_ONE)},
        summary="Accept a handoff offered to you (or your team)",
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def answer(self, *, pk: int, data: dict, actor: Any, now: Any) -> None:
        services.handoff_accept(handoff=pk, actor=actor, now=now)


class HandoffRejectView(HandoffAnswerView):
    input_class = s.HandoffRejectIn

    @extend_schema(
        operation_id="handoffs_reject",
        request=s.HandoffRejectIn,
        parameters=[IF_MATCH],
        responses={200: s.HandoffOut, **errors(*WRITE_ONE)},
        summary="Reject a handoff offered to you, with a reason",
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def answer(self, *, pk: int, data: dict, actor: Any, now: Any) -> None:
        services.handoff_reject(handoff=pk, reason=data["reason"], actor=actor, now=now)


# --- Breaches, policies, metrics --------------------------------------------------------


class BreachFilterSet(FilterSet):
    incident = filters.NumberFilter(field_name="incident_id", min_value=1, max_value=2**63 - 1)
    kind = filters.ChoiceFilter(choices=ClockKind.choices)

    class Meta:
        model = Breach
        fields = ["incident", "kind"]


class BreachListView(ApiView):
    required_perms = {"GET": ("escalations.view_breach",)}
    filter_backends = [FilterBackend]
    filterset_class = BreachFilterSet
    pagination_class = Pagination
    queryset = Breach.objects.none()

    @extend_schema(operation_id="breaches_list", responses={200: s.BreachOut(many=True), **errors(400, *READ)})
    def get(self, request: Request) -> Response:
        qs = self.filter_queryset(breach_list(user=request.user))
        return self.get_paginated_response(s.BreachOut(self.paginate_queryset(qs), many=True).data)


class PolicyListView(ApiView):
    required_perms = {"GET": ("escalations.view_severitypolicy",)}

    @extend_schema(operation_id="policies_list", responses={200: s.PolicyOut(many=True), **errors(*READ)})
    def get(self, request: Request) -> Response:
        return Response(s.PolicyOut(SeverityPolicy.objects.order_by("rank"), many=True).data)


class PolicyDetailView(ApiView):
    required_perms = {"GET": ("escalations.view_severitypolicy",), "PATCH": ("escalations.change_severitypolicy",)}

    def get_policy(self, key: str) -> SeverityPolicy:
        policy = SeverityPolicy.objects.filter(key=key).first()
        if policy is None:
            raise Http404(f"No severity policy {key!r}.")
        return policy

    @extend_schema(operation_id="policies_retrieve", responses={200: s.PolicyOut, **errors(*READ_ONE)})
    def get(self, request: Request, key: str) -> Response:
        return Response(s.PolicyOut(self.get_policy(key)).data)

    @extend_schema(
        operation_id="policies_partial_update",
        request=s.PolicyPatchIn,
        responses={200: s.PolicyOut, **errors(400, 401, 403, 404, 429)},
        summary="Edit a severity policy (Policy Admins). Open cases keep their targets.",
    )
    def patch(self, request: Request, key: str) -> Response:
        policy = self.get_policy(key)
        serializer = s.PolicyPatchIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            policy = severity_policy_update(policy=policy, actor=request.user, **serializer.model_changes())
        except ServiceError as exc:
            # The model says ack_target; the caller wrote ack_target_seconds.
            exc.field = {model: api for api, model in s.PolicyPatchIn.DURATIONS.items()}.get(exc.field, exc.field)
            raise
        return Response(s.PolicyOut(policy).data)


class DistributionOut(serializers.Serializer):
    count = serializers.IntegerField()
    median_seconds = serializers.IntegerField(allow_null=True)
    p90_seconds = serializers.IntegerField(allow_null=True)


class AdherenceOut(serializers.Serializer):
    acknowledge_pct = serializers.FloatField(allow_null=True)
    resolve_pct = serializers.FloatField(allow_null=True)
    update_pct = serializers.FloatField(allow_null=True)


class UpdatesOut(serializers.Serializer):
    posted = serializers.IntegerField()
    late = serializers.IntegerField()


class BreachCountsOut(serializers.Serializer):
    total = serializers.IntegerField()
    by_kind = serializers.DictField(child=serializers.IntegerField())
    by_cause = serializers.DictField(child=serializers.IntegerField())


class HandoffCountsOut(serializers.Serializer):
    offered = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    ping_pong = serializers.IntegerField()


class WeeklyMetricsOut(serializers.Serializer):
    """See escalations.metrics for each definition."""

    week = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    cases_opened = serializers.IntegerField()
    cases_opened_by_severity = serializers.DictField(child=serializers.IntegerField())
    tta = DistributionOut()
    ttr_cycle = DistributionOut()
    ttr_total = DistributionOut()
    sla_adherence = AdherenceOut()
    updates = UpdatesOut()
    reopens = serializers.IntegerField()
    breaches = BreachCountsOut()
    handoffs = HandoffCountsOut()
    arr_at_risk_total = serializers.DecimalField(max_digits=18, decimal_places=2)
    executive_escalations = serializers.IntegerField()
    sentiment = serializers.DictField(child=serializers.IntegerField())


class WeeklyMetricsView(ApiView):
    required_perms = {"GET": ("escalations.view_review",)}

    @extend_schema(
        operation_id="metrics_weekly",
        parameters=[
            OpenApiParameter(
                "week", str, required=True, pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W47 (UTC)."
            )
        ],
        responses={200: WeeklyMetricsOut, **errors(400, *READ)},
        summary="The weekly review figures (real cases only; drills excluded)",
    )
    def get(self, request: Request) -> Response:
        query = s.WeekQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        week = week_parse(query.validated_data["week"])
        return Response(WeeklyMetricsOut(weekly_metrics(week)).data)


# --- Intake and tokens ------------------------------------------------------------------


class IntakeView(ApiView):
    """Signals from monitoring and CRM integrations. An integration is a user (see
    `manage.py integration_create`) whose token authenticates it; the case is opened as
    that user. Idempotent on (channel, external_id): a repeat returns the existing case
    with 200 instead of opening a second one."""

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
            existing = self._existing(data)
            if existing is None:
                raise
            return self._answer(*existing, status_code=status.HTTP_200_OK)
        return self._answer(incident.pk, incident.status, status_code=status.HTTP_201_CREATED)

    @staticmethod
    def _existing(data: dict) -> tuple[int, str] | None:
        return (
            Incident.objects.filter(channel=data["channel"], external_id=data["external_id"])
            .values_list("pk", "status")
            .first()
        )

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
        request=s.TokenIn,
        responses={200: s.TokenOut, **errors(400, 403, 429)},
        auth=[],
        summary="Obtain an API token",
    )
    def post(self, request: Request) -> Response:
        data = self.validated(s.TokenIn)
        user = authenticate(request=request._request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            raise exceptions.ValidationError(
                {"non_field_errors": ["Unable to log in with these credentials."]}, code="invalid_credentials"
            )
        token, key = token_issue_for_password(user=user)
        return Response({"token": key, "expiry": token.expiry})
