"""Reading rows fast on PostgreSQL, for the few hot paths that read many.

Django parses every timestamptz column with its own Python subclass of psycopg's loader
(to pin the tzinfo); psycopg's own loader is C. On a 50-row page of cases the Python
loader was a third of the fetch. Both give aware datetimes in the session's zone, which
Django keeps at UTC (``connection.timezone``); only the tzinfo object differs. These
helpers use psycopg's loader on their own cursor and leave the connection as it was.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from datetime import UTC

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import ValuesListIterable


def fast_reads(using: str = "default") -> bool:
    """Whether fetch_rows can read on this database (PostgreSQL in UTC)."""
    connection = connections[using]
    return connection.vendor == "postgresql" and connection.timezone == UTC


def fetch_rows(sql: str, params: Sequence, *, using: str = "default") -> list[tuple]:
    """Run one SELECT (through Django's cursor: logged and counted like any query) and
    return its rows, timestamps parsed by psycopg's own loader. PostgreSQL only
    (fast_reads)."""
    from psycopg.types.datetime import TimestamptzLoader

    with connections[using].cursor() as cursor:
        cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.execute(sql, params)
        return cursor.fetchall()


def values_rows(qs: QuerySet) -> list[tuple]:
    """``list(qs)`` of a values_list queryset: on PostgreSQL the statement Django
    compiles, read by fetch_rows. Falls back to ``list(qs)`` on other databases, in
    another database zone, or when a column needs one of Django's converters."""
    if not fast_reads(qs.db) or qs._iterable_class is not ValuesListIterable:
        return list(qs)
    compiler = qs.query.get_compiler(qs.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return []
    if compiler.get_converters([column for column, _, _ in compiler.select]):
        return list(qs)
    # Rows come in the order the caller named (values_list's own order).
    selected = [alias for _, _, alias in compiler.select]
    wanted = list(qs._fields or selected)
    if sorted(selected, key=str) != sorted(wanted, key=str):
        return list(qs)
    rows = fetch_rows(sql, params, using=qs.db)
    if wanted != selected:
        reorder = operator.itemgetter(*(selected.index(name) for name in wanted))
        rows = [reorder(row) if len(wanted) > 1 else (reorder(row),) for row in rows]
    return rows
