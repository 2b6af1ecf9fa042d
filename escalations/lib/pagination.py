"""Pagination shared by the admin and the API lists."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Below this many (estimated) rows an exact count(*) is cheap enough to keep.
ESTIMATE_ABOVE_ROWS = 100_000
# How long a process reuses a table's row estimate.
ESTIMATE_SECONDS = 10.0


class EstimatedCountPaginator(Paginator):
    """count(*) over a large PostgreSQL table is a full scan on every changelist view.
    For an unfiltered list of a big table, use the planner's estimate (pg_class.reltuples)
    instead; filtered lists and small tables keep the exact count."""

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if isinstance(qs, QuerySet) and not qs.query.where:
            estimate = table_estimate(qs.model._meta.db_table, using=qs.db)
            if estimate > ESTIMATE_ABOVE_ROWS:
                return estimate
        return super().count


# (database, table) -> (when read, the planner's row estimate)
_estimates: dict[tuple[str, str], tuple[float, int]] = {}


def table_estimate(table: str, *, using: str) -> int:
    """The planner's row estimate for a PostgreSQL table (0 when it has none), read at
    most every ESTIMATE_SECONDS per process: it is already approximate (ANALYZE and
    autovacuum refresh it), so a list page need not ask for it each time."""
    now = time.monotonic()
    cached = _estimates.get((using, table))
    if cached is not None and now - cached[0] < ESTIMATE_SECONDS:
        return cached[1]
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    estimate = max(int(row[0] or 0), 0) if row else 0
    _estimates[(using, table)] = (now, estimate)
    return estimate


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
