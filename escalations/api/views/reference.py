"""Breaches, severity policies and the weekly review."""

from __future__ import annotations

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from escalations.api import reference_serializers as r
from escalations.api.filters import BreachFilterSet, FilterBackend
from escalations.api.metrics_serializers import WeeklyFiguresOut, WeeklyMetricsOut, weekly_v1, weekly_v2
from escalations.api.pagination import Pagination
from escalations.api.schema import READ, READ_ONE, WEEK_NOT_KEPT, errors
from escalations.api.views.base import (
    ApiView,
)
from escalations.errors import ServiceError
from escalations.models import (
    Breach,
    SeverityPolicy,
)
from escalations.reporting.figures import ReviewFigures, WeekState, kept_by, review_figures
from escalations.selectors.cases import (
    breach_list,
)
from escalations.services.policies import severity_policy_update
from escalations.services.review_weeks import review_weeks_hurry
from escalations.sla.weeks import week_parse

# --- Breaches, policies, metrics --------------------------------------------------------


class BreachListView(ApiView):
    required_perms = {"GET": ("escalations.view_breach",)}
    filter_backends = [FilterBackend]
    filterset_class = BreachFilterSet
    pagination_class = Pagination
    queryset = Breach.objects.none()

    @extend_schema(operation_id="breaches_list", responses={200: r.BreachOut(many=True), **errors(400, *READ)})
    def get(self, request: Request) -> Response:
        qs = self.filter_queryset(breach_list(user=request.user))
        return self.get_paginated_response(r.BreachOut(self.paginate_queryset(qs), many=True).data)


class PolicyListView(ApiView):
    required_perms = {"GET": ("escalations.view_severitypolicy",)}

    @extend_schema(operation_id="policies_list", responses={200: r.PolicyOut(many=True), **errors(*READ)})
    def get(self, request: Request) -> Response:
        return Response(r.PolicyOut(SeverityPolicy.objects.order_by("rank"), many=True).data)


class PolicyDetailView(ApiView):
    required_perms = {"GET": ("escalations.view_severitypolicy",), "PATCH": ("escalations.change_severitypolicy",)}

    def get_policy(self, key: str) -> SeverityPolicy:
        policy = SeverityPolicy.objects.filter(key=key).first()
        if policy is None:
            raise Http404(f"No severity policy {key!r}.")
        return policy

    @extend_schema(operation_id="policies_retrieve", responses={200: r.PolicyOut, **errors(*READ_ONE)})
    def get(self, request: Request, key: str) -> Response:
        return Response(r.PolicyOut(self.get_policy(key)).data)

    @extend_schema(
        operation_id="policies_partial_update",
        request=r.PolicyPatchIn,
        responses={200: r.PolicyOut, **errors(400, 401, 403, 404, 429)},
        summary="Edit a severity policy (Policy Admins). Open cases keep their targets.",
    )
    def patch(self, request: Request, key: str) -> Response:
        policy = self.get_policy(key)
        serializer = r.PolicyPatchIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            policy = severity_policy_update(policy=policy, actor=request.user, **serializer.model_changes())
        except ServiceError as exc:
            # The model says ack_target; the caller wrote ack_target_seconds.
            exc.field = {model: api for api, model in r.PolicyPatchIn.DURATIONS.items()}.get(exc.field, exc.field)
            raise
        return Response(r.PolicyOut(policy).data)


class WeekNotKept(exceptions.APIException):
    """503 with Retry-After: the week's figures are not kept yet (the handler copies
    ``wait`` into the header)."""

    status_code = 503
    default_code = "week_not_kept"


def kept_week_figures(request: Request) -> ReviewFigures:
    """The one week asked for, as kept by the beat. A week not kept yet is a 503 (with
    Retry-After) and the keeping task is asked to run sooner; it is never computed
    here."""
    query = r.WeekQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    week, now = week_parse(query.validated_data["week"]), timezone.now()
    figures = review_figures(week, weeks=1, now=now, lists=False)
    if figures.state == WeekState.PENDING:
        review_weeks_hurry([week])
        exc = WeekNotKept(f"{week.label}'s figures are being computed; retry in a minute.", code="week_not_kept")
        exc.wait = 60
        raise exc
    if figures.state == WeekState.IN_PROGRESS:
        exc = WeekNotKept(
            f"{week.label} is not over yet: its figures are computed after it ends ({week.ends_at:%Y-%m-%d %H:%M} UTC).",
            code="week_in_progress",
        )
        exc.wait = int((kept_by(week, now) - now).total_seconds())
        raise exc
    return figures


WEEK_PARAMETER = OpenApiParameter(
    "week", str, required=True, pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W47 (UTC)."
)


class WeeklyMetricsView(ApiView):
    required_perms = {"GET": ("escalations.view_review",)}

    @extend_schema(
        operation_id="metrics_weekly",
        parameters=[WEEK_PARAMETER],
        responses={200: WeeklyMetricsOut, **errors(400, *READ), **WEEK_NOT_KEPT},
        summary="One week's review figures, all severities together (real cases only; drills excluded)",
        description="The review page's and the digest's figures for one ISO week, under the field names of v1. "
        "/api/v2/metrics/weekly/ has every figure per severity under the engine's names.",
    )
    def get(self, request: Request) -> Response:
        return Response(WeeklyMetricsOut(weekly_v1(kept_week_figures(request))).data)


class WeeklyFiguresView(ApiView):
    required_perms = {"GET": ("escalations.view_review",)}

    @extend_schema(
        operation_id="metrics_weekly_v2",
        parameters=[WEEK_PARAMETER],
        responses={200: WeeklyFiguresOut, **errors(400, *READ), **WEEK_NOT_KEPT},
        summary="One week's review figures per severity, under the engine's names (real cases only)",
    )
    def get(self, request: Request) -> Response:
        return Response(WeeklyFiguresOut(weekly_v2(kept_week_figures(request))).data)
