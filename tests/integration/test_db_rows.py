"""The list's readers: escalations.db.values_rows (psycopg's own timestamp loader on
PostgreSQL), escalations.pagination.RowsPaginator (deep pages found by id first) and the
incident filterset's cheap per-request copy of its filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F, TextField
from django.db.models.functions import Cast
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from escalations import pagination
from escalations.api.incident_json import incident_rows
from escalations.db import fast_reads, values_rows
from escalations.filtersets import IncidentFilterSet
from escalations.models import Incident
from escalations.pagination import RowsPaginator
from escalations.services import incident_acknowledge

pytestmark = pytest.mark.django_db


@pytest.fixture
def many(make_incident, agent, now) -> list[int]:
    made = []
    for n in range(23):
        case = make_incident(title=f"Case {n:02d}", arr_at_risk=n * 1000)
        if n % 3 == 0:
            incident_acknowledge(incident=case, actor=agent, now=now + timedelta(minutes=n))
        made.append(case.pk)
    return made


def test_values_rows_reads_what_django_reads(many):
    qs = Incident.objects.filter(pk__in=many).order_by("-id")
    shapes = [
        qs.values_list("id", "reported_at", "acknowledged_at", "arr_at_risk", "status", "channel__slug"),
        # Annotations named between fields: rows keep the order asked for.
        qs.annotate(text=Cast("calendar_snapshot", TextField())).values_list("acknowledged_at", "text", "id"),
        qs.annotate(twice=F("escalation_level") * 2).values_list("twice", "title"),
        qs.values_list("reported_at"),
        incident_rows(qs)[3:9],
    ]
    for shape in shapes:
        rows = values_rows(shape)
        assert [tuple(row) for row in rows] == list(shape)
        assert len(rows) == shape.count()
    # flat=True is list(qs) itself.
    assert values_rows(qs.values_list("reported_at", flat=True)) == list(qs.values_list("reported_at", flat=True))


def test_values_rows_is_one_counted_query_and_leaves_the_connection_as_it_was(many):
    qs = incident_rows(Incident.objects.filter(pk__in=many))
    with CaptureQueriesContext(connection) as ctx:
        values_rows(qs)
    assert len(ctx.captured_queries) == 1
    if fast_reads():
        rows = values_rows(qs.values_list("reported_at"))
        through_django = list(Incident.objects.filter(pk__in=many).values_list("reported_at", flat=True))
        # Same instants; the model layer still gets Django's own loader afterwards.
        assert sorted(r[0] for r in rows) == sorted(through_django)
        assert {value.tzinfo for value in through_django} == {connection.timezone}


def test_values_rows_falls_back_for_model_querysets_and_empty_filters(many):
    models = values_rows(Incident.objects.filter(pk__in=many[:2]))
    assert all(isinstance(case, Incident) for case in models) and len(models) == 2
    with CaptureQueriesContext(connection) as ctx:
        assert values_rows(Incident.objects.filter(pk__in=[]).values_list("id")) == []
    assert len(ctx.captured_queries) == 0


@pytest.mark.parametrize("ordering", [("-id",), ("reported_at", "id"), ("-arr_at_risk", "-id")])
def test_deep_pages_are_the_pages_offset_would_give(many, monkeypatch, ordering):
    monkeypatch.setattr(pagination, "DEEP_PAGE_FROM", 5)
    qs = Incident.objects.filter(pk__in=many).order_by(*ordering)
    paginator = RowsPaginator(qs, 4, rows=incident_rows)
    for number in paginator.page_range:
        page = paginator.page(number)
        expected = list(incident_rows(qs)[(number - 1) * 4 : number * 4])
        assert [tuple(row) for row in page] == [tuple(row) for row in expected], number
    with CaptureQueriesContext(connection) as ctx:
        RowsPaginator(qs, 4, rows=incident_rows).page(4)
    # count, the page's ids, its rows.
    assert len(ctx.captured_queries) == 3


def test_each_filterset_gets_its_own_filters():
    first = IncidentFilterSet(QueryDict("breached=true&q=ESC-000001"), Incident.objects.all())
    second = IncidentFilterSet(QueryDict("breached=false"), Incident.objects.all())
    for name, filter_ in first.filters.items():
        other = second.filters[name]
        assert filter_ is not other and filter_ is not IncidentFilterSet.base_filters[name]
        assert filter_.extra is not other.extra and filter_.parent is first and other.parent is second
    # Method filters call their own filterset's method.
    assert first.filters["breached"].method == "filter_breached"
    assert first.filters["breached"].filter.method.__self__ is first
    assert second.filters["q"].filter.method.__self__ is second
    assert first.is_valid() and second.is_valid()
    assert "UPPER" in str(first.qs.query) and "UPPER" not in str(second.qs.query)
    # The form class is built once and shared; its forms are not.
    assert type(first.form) is type(second.form) and first.form is not second.form


def test_filterset_reports_bad_values_by_field():
    filterset = IncidentFilterSet(QueryDict("status=nope&customer=abc&ordering=sideways"), Incident.objects.all())
    assert not filterset.is_valid()
    assert set(filterset.errors) == {"status", "customer", "ordering"}
