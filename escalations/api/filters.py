"""The API's filter backend and its breach filters (the case filters are shared with the
web queues: escalations.filtersets)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from rest_framework.request import Request

from escalations.choices import ClockKind
from escalations.filtersets import FilterSet
from escalations.models import Breach


class FilterBackend(filters.DjangoFilterBackend):
    """django-filter, skipped when the request names none of the filterset's filters
    (the plain list, its pages): with no values every filter is a no-op anyway, and
    building and validating the filter form would be work for nothing."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and request.query_params.keys().isdisjoint(filterset_class.base_filters):
            return queryset
        return super().filter_queryset(request, queryset, view)


class BreachFilterSet(FilterSet):
    incident = filters.NumberFilter(field_name="incident_id", min_value=1, max_value=2**63 - 1)
    kind = filters.ChoiceFilter(choices=ClockKind.choices)

    class Meta:
        model = Breach
        fields = ["incident", "kind"]
