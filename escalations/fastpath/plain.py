"""The plain Django + simple-history paths the fast paths replace: the reference each is
tested equal to (tests/integration/test_fastpath.py) and the "without" of the with/without
figures in docs/performance.md (``bench --plain``). Public APIs only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from django.db import connections, models, transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from escalations.fastpath.writes import Row, _copy_table

M = TypeVar("M", bound=models.Model)


def insert_with_history(objs: Sequence[M], *, actor) -> list[M]:
    if not objs:
        return []
    model = type(objs[0])
    with transaction.atomic(savepoint=False):
        return bulk_create_with_history(list(objs), model, default_user=actor, default_change_reason=None)


def insert_rows_with_history(rows: dict[type[models.Model], list[Row]], *, actor) -> None:
    for model, batch in rows.items():
        if not batch:
            continue
        table = _copy_table(model)
        links = {name for name, _ in table.links}
        for row in batch:
            table.resolve_links(row)
        objs = [model(**{k: v for k, v in row.items() if k not in links and k != "id"}) for row in batch]
        bulk_create_with_history(objs, model, batch_size=1000, default_user=actor)
        for row, obj in zip(batch, objs, strict=True):
            row["id"] = obj.pk


def update_with_history(objs: Sequence[models.Model], fields: list[str], *, actor) -> None:
    if objs:
        bulk_update_with_history(list(objs), type(objs[0]), fields, batch_size=1000, default_user=actor)


def fetch_rows(sql: str, params: Sequence, *, using: str = "default") -> list[tuple]:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
