"""django-filter's FilterSet made per request without its deep copies (below
django-filter's public API): the project's filtersets inherit it. Tested equal to
django-filter's own in tests/integration/test_fastpath.py."""

from __future__ import annotations

import copy

import django_filters
from django.http import QueryDict


class FilterSet(django_filters.FilterSet):
    """django-filter's FilterSet, made per request without its deep copies: the project's
    filtersets (the case lists of the web queues and the API, the API's breaches) inherit
    this."""

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        # As django-filter's own __init__ (26.x), but each filter is copied shallowly
        # rather than deep-copied: deep-copying the choices and the customer queryset on
        # every list request is work no request needs. What a request changes on its filters is
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
