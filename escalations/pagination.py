"""Pagination shared by the admin and the API lists."""

from __future__ import annotations

from django.core.paginator import Paginator
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
