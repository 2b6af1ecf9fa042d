"""The incident filters shared by the web work queues and the API list (on the
per-request FilterSet of escalations.fastpath.filters)."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from escalations.choices import SeverityKey, Status
from escalations.fastpath.filters import FilterSet
from escalations.models import Customer, Incident, Team, pk_from_reference
from escalations.selectors.cases import breached_q


class IncidentFilterSet(FilterSet):
    # distinct=False: these are columns of the case itself, so no join can duplicate a
    # row, and SELECT DISTINCT over every column would double the cost of the query.
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, distinct=False)
    severity = django_filters.MultipleChoiceFilter(choices=SeverityKey.choices, distinct=False)
    customer = django_filters.ModelChoiceFilter(queryset=Customer.objects.all())
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.all())
    breached = django_filters.BooleanFilter(
        method="filter_breached",
        label="Breached",
        help_text="Breached now: the same answer as each case's `breached` field.",
    )
    is_drill = django_filters.BooleanFilter(label="Drill")
    q = django_filters.CharFilter(method="filter_search", label="Search")
    ordering = django_filters.OrderingFilter(
        fields=(
            ("next_deadline_at", "deadline"),
            ("reported_at", "reported_at"),
            ("severity", "severity"),
            ("id", "id"),
            ("escalation_level", "escalation_level"),
        )
    )

    class Meta:
        model = Incident
        fields = ["status", "severity", "customer", "team", "breached", "is_drill"]

    def filter_breached(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(breached_q()) if value else queryset.exclude(breached_q())

    def filter_search(self, queryset, name, value):
        """By reference (ESC-000123 or 123), title or customer name."""
        value = (value or "").strip()
        if not value:
            return queryset
        # Customer ids first (a small table): `customer_id IN (…)` OR'd with the title
        # condition lets PostgreSQL combine two index scans (customer, and the trigram
        # index on UPPER(title), migration 0003) instead of scanning every case.
        customer_ids = list(Customer.objects.filter(name__icontains=value).values_list("id", flat=True)[:500])
        condition = Q(title__icontains=value) | Q(customer_id__in=customer_ids)
        pk = pk_from_reference(value)
        if pk is not None:
            condition |= Q(pk=pk)
        return queryset.filter(condition)
