"""The API's paginators."""

from __future__ import annotations

import functools
from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from escalations.api.incident_json import incident_rows_by_id
from escalations.lib.pagination import EstimatedCountPaginator, RowsPaginator


class Pagination(PageNumberPagination):
    # An unfiltered list of a big table reports the planner's row estimate as its count
    # (exact below 100,000 rows): counting every case would dominate the request.
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
