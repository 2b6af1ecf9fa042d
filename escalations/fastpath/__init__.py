"""The one place that goes below the public APIs of Django, simple-history and psycopg.

Three narrow functions, each tested equal to the plain Django + simple-history path in
``plain`` (tests/integration/test_fastpath.py), and each kept because it buys a figure a
user feels (docs/performance.md, "Fast paths"):

- ``insert_with_history``: new instances and their history rows in one statement
  (intake, events, paging).
- ``insert_rows_with_history`` / ``update_with_history``: the sweep's batches by COPY and
  by one ``UPDATE … FROM jsonb_to_recordset``, history rows written inside the database.
- ``fetch_rows``: a SELECT's rows with psycopg's C timestamp loader (list pages, pauses).

Nothing outside this package touches a private attribute of those libraries.
"""

from escalations.fastpath.reads import fetch_rows
from escalations.fastpath.writes import insert_rows_with_history, insert_with_history, update_with_history

__all__ = ["fetch_rows", "insert_rows_with_history", "insert_with_history", "update_with_history"]
