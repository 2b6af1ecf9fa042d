"""Reading rows fast on PostgreSQL, for the few hot paths that read many.

Django parses every timestamptz column with its own Python subclass of psycopg's loader
(to pin the tzinfo); psycopg's own loader is C, and a list page parses hundreds of
timestamps. Both give aware datetimes in the session's zone, which
Django keeps at UTC (``connection.timezone``); only the tzinfo object differs. These
helpers use psycopg's loader on their own cursor and leave the connection as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections


def fetch_rows(sql: str, params: Sequence, *, using: str = "default") -> list[tuple]:
    """Run one SELECT (through Django's cursor: logged and counted like any query) and
    return its rows, timestamps parsed by psycopg's own loader."""
    from psycopg.types.datetime import TimestamptzLoader

    with connections[using].cursor() as cursor:
        cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.execute(sql, params)
        return cursor.fetchall()
