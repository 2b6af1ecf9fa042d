"""Pagination shared by the admin and the API lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Below this many (estimated) rows an exact count(*) is cheap enough to keep.
ESTIMATE_ABOVE_ROWS = 100_000


class EstimatedCountPaginator(Paginator):
    """count(*) over a large PostgreSQL table is a full scan on every changelist view.
    For an unfiltered list of a big table, use the planner's estimate (pg_class.reltuples)
    instead; filtered lists and small tables keep the exact count."""

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if isinstance(qs, QuerySet) and not qs.query.where:
            connection = connections[qs.db]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [qs.model._meta.db_table]
                    )
                    row = cursor.fetchone()
                if row and row[0] and row[0] > ESTIMATE_ABOVE_ROWS:
                    return int(row[0])
        return super().count


class RowsPaginator(EstimatedCountPaginator):
    """Pages of a queryset read as rows in two steps: the page's ids (the queryset's
    filters and ordering; PostgreSQL reads them from an index alone, where OFFSET would
    otherwise read every skipped row in full), then ``rows(ids)``, which returns those
    rows in that order. Counting uses the queryset as given."""

    def __init__(self, object_list: QuerySet, per_page: int, *args: Any, rows: Callable[[list], list], **kwargs: Any):
        super().__init__(object_list, per_page, *args, **kwargs)
        self.rows = rows

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        return self._get_page(self.rows(ids), number, self)
