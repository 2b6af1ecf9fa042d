"""The project's filtersets: a per-request FilterSet without deep copies, and the
incident filters shared by the web work queues and the API list."""

from __future__ import annotations

import copy

import django_filters
from django.db.models import Q
from django.http import QueryDict

from escalations.choices import SeverityKey, Status
from escalations.models import Customer, Incident, Team, pk_from_reference
from escalations.selectors import breached_q


class FilterSet(django_filters.FilterSet):
    """django-filter's FilterSet, made per request without its deep copies: the project's
    filtersets (the case lists of the web queues and the API, the API's breaches) inherit
    this."""

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        # As django-filter's own __init__ (26.x), but each filter is copied shallowly
        # rather than deep-copied: the deep copy (choices, the customer queryset, ...)
        # was a tenth of an API list page. What a request changes on its filters is
        # rebound here (parent, model, the ``extra`` the queryset filters rewrite, the
        # method bound to its filter); the form field and label they build lazily are
        # built on the copy. tests/integration/test_db_rows.py pins this.
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {name: _filter_copy(filter_) for name, filter_ in self.base_filters.items()}
        for filter_ in self.filters.values():
            filter_.model = queryset.model
            filter_.parent = self

    def get_form_class(self):
        # Built once per class: django-filter builds a new Form class (and a form
        # field per filter) on every request. Each form then copies the class's fields
        # shallowly (_ShallowFields): Django deep-copies them, choice lists and widgets
        # included, so that a form may change its own fields, which these never do.
        cls = type(self)
        if "_form_class" not in cls.__dict__:
            form_class = super().get_form_class()
            form_class.base_fields = _ShallowFields(form_class.base_fields)
            cls._form_class = form_class
        return cls._form_class


class IncidentFilterSet(FilterSet):
    # distinct=False: these are columns of the case itself, so no join can duplicate a
    # row, and SELECT DISTINCT over every column would double the cost of the query.
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, distinct=False)
    severity = django_filters.MultipleChoiceFilter(choices=SeverityKey.choices, distinct=False)
    customer = django_filters.ModelChoiceFilter(queryset=Customer.objects.all())
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.all())
    breached = django_filters.BooleanFilter(method="filter_breached", label="Breached")
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


class _ShallowFields(dict):
    """A form class's fields, copied one level deep when a form is made."""

    def __deepcopy__(self, memo: dict) -> dict:
        return {name: copy.copy(field) for name, field in self.items()}


def _filter_copy(filter_: django_filters.Filter) -> django_filters.Filter:
    clone = copy.copy(filter_)
    clone.extra = dict(filter_.extra)
    for lazily_built in ("_field", "parent", "model"):
        clone.__dict__.pop(lazily_built, None)
    clone.method = filter_.method  # a method filter's FilterMethod, bound to the clone
    return clone
