"""A case's customer updates, timeline, checklist and handoffs."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from escalations import services
from escalations.api import serializers as s
from escalations.api.schema import IF_MATCH, READ_ONE, WRITE_ONE, errors
from escalations.api.views.base import (
    CHANGE,
    VIEW,
    ApiView,
    expected_version,
)
from escalations.models import (
    ChecklistItem,
    CustomerUpdate,
    HandoffPacket,
)
from escalations.security.access import user_may_change_cases
from escalations.selectors.cases import (
    checklist_items_for,
    handoff_get_for_user,
    incident_get_for_user,
    incident_timeline,
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
        if not user_may_change_cases(request.user):
            raise PermissionDenied("You may view cases but not change them.")
        incident_id = ChecklistItem.objects.filter(pk=pk).values_list("checklist__incident_id", flat=True).first()
        if incident_id is None:
            raise Http404("No such checklist item.")
        incident_get_for_user(user=request.user, pk=incident_id, for_change=True)
        data = self.validated(s.ChecklistCompleteIn)
        version = expected_version(request, data)
        services.checklist_item_set_done(
            item=pk, done=data["done"], actor=request.user, now=timezone.now(), expected_version=version
        )
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

    def answer(self, *, pk: int, data: dict, actor: Any, now: Any, version: int | None) -> None:
        raise NotImplementedError

    def post(self, request: Request, pk: int) -> Response:
        handoff = handoff_get_for_user(user=request.user, pk=pk)
        incident_get_for_user(user=request.user, pk=handoff.incident_id, for_change=True)
        data = self.validated(self.input_class)
        version = expected_version(request, data)
        self.answer(pk=pk, data=data, actor=request.user, now=timezone.now(), version=version)
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

    def answer(self, *, pk: int, data: dict, actor: Any, now: Any, version: int | None) -> None:
        services.handoff_accept(handoff=pk, actor=actor, now=now, expected_version=version)


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

    def answer(self, *, pk: int, data: dict, actor: Any, now: Any, version: int | None) -> None:
        services.handoff_reject(handoff=pk, reason=data["reason"], actor=actor, now=now, expected_version=version)
