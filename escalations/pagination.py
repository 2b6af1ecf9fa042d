"""Pagination shared by the admin and the API lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

from escalations.db import values_rows

# Below this many (estimated) rows an exact count(*) is cheap enough to keep.
ESTIMATE_ABOVE_ROWS = 100_000
# From this offset on, RowsPaginator finds a page's ids before reading its rows.
DEEP_PAGE_FROM = 1_000


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
    """Pages of a model queryset read as rows: ``rows(queryset)`` turns (a slice of) it
    into a values_list queryset, fetched by values_rows; counting uses the queryset as
    given (no joins the rows need). Deep pages (an OFFSET of DEEP_PAGE_FROM rows or
    more) are found by their ids first, which PostgreSQL reads from an index alone, then
    fetched by id: OFFSET otherwise reads every skipped row in full."""

    def __init__(
        self, object_list: QuerySet, per_page: int, *args: Any, rows: Callable[[QuerySet], QuerySet], **kwargs: Any
    ):
        super().__init__(object_list, per_page, *args, **kwargs)
        self.rows = rows

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        qs = self.object_list
        if bottom >= DEEP_PAGE_FROM and qs.ordered:
            ids = list(qs.values_list("pk", flat=True)[bottom:top])
            page_rows = values_rows(self.rows(qs.filter(pk__in=ids)))
        else:
            page_rows = values_rows(self.rows(qs)[bottom:top])
        return self._get_page(page_rows, number, self)
