"""The list's readers: escalations.lib.pagination.RowsPaginator (a page's ids, then its
rows), incident_rows_by_id (one statement read by escalations.fastpath.fetch_rows, with
psycopg's own timestamp loader, on PostgreSQL), and the incident filterset's cheap
per-request copy of its filters and form fields."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from escalations.api.incident_json import ROW_COLUMNS, incident_rows, incident_rows_by_id
from escalations.fastpath import fetch_rows
from escalations.filtersets import IncidentFilterSet
from escalations.lib.pagination import RowsPaginator
from escalations.models import Incident
from escalations.selectors.clocks import pauses_by_incident
from escalations.services import incident_acknowledge, incident_pause, incident_resume

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


def test_fetch_rows_is_one_counted_query_and_leaves_the_connection_as_it_was(many):
    with CaptureQueriesContext(connection) as ctx:
        rows = fetch_rows('SELECT "reported_at" FROM "escalations_incident" WHERE "id" = ANY(%s)', [many])
    assert len(ctx.captured_queries) == 1
    through_django = list(Incident.objects.filter(pk__in=many).values_list("reported_at", flat=True))
    # Same instants; the model layer still gets Django's own loader afterwards.
    assert sorted(row[0] for row in rows) == sorted(through_django)
    assert {value.tzinfo for value in through_django} == {connection.timezone}


@pytest.mark.parametrize("ordering", [("-id",), ("reported_at", "id"), ("-arr_at_risk", "-id")])
def test_pages_by_id_are_the_pages_offset_would_give(many, ordering):
    qs = Incident.objects.filter(pk__in=many).order_by(*ordering)
    paginator = RowsPaginator(qs, 4, rows=incident_rows_by_id)
    pauses = pauses_by_incident(many)
    for number in paginator.page_range:
        page = list(paginator.page(number))
        expected = list(incident_rows(qs)[(number - 1) * 4 : number * 4])
        # Each row is incident_rows' row plus its pauses, last.
        assert [row[:-1] for row in page] == [tuple(row) for row in expected], number
        assert [row[-1] for row in page] == [pauses[row[ROW_COLUMNS.index("id")]] for row in page]
    with CaptureQueriesContext(connection) as ctx:
        RowsPaginator(qs, 4, rows=incident_rows_by_id).page(4)
    # count, the page's ids, its rows (with their pauses on PostgreSQL; one more elsewhere).
    assert len(ctx.captured_queries) == 3


def test_rows_by_id_keep_the_order_given_and_carry_pauses(many, agent, now):
    paused = Incident.objects.get(pk=many[3])
    incident_pause(incident=paused, reason="customer", note="logs", actor=agent, now=now + timedelta(hours=1))
    incident_resume(incident=paused, actor=agent, now=now + timedelta(hours=2))
    incident_pause(incident=paused, reason="third_party", note="vendor", actor=agent, now=now + timedelta(hours=3))
    ids = [many[5], many[3], many[0], 10**12]  # any order; an id that is gone is left out
    rows = incident_rows_by_id(ids)
    assert [row[ROW_COLUMNS.index("id")] for row in rows] == ids[:3]
    assert rows[1][-1] == pauses_by_incident([many[3]])[many[3]] and len(rows[1][-1]) == 2
    assert rows[1][-1][-1].end is None and rows[0][-1] == []
    assert incident_rows_by_id([]) == []


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
    assert "LIKE" in str(first.qs.query) and "LIKE" not in str(second.qs.query)
    # The form class is built once and shared; its forms are not.
    assert type(first.form) is type(second.form) and first.form is not second.form
    for name in first.form.fields:
        assert first.form.fields[name] is not second.form.fields[name]
    assert first.form.cleaned_data["breached"] is True and second.form.cleaned_data["breached"] is False


def test_filterset_reports_bad_values_by_field():
    filterset = IncidentFilterSet(QueryDict("status=nope&customer=abc&ordering=sideways"), Incident.objects.all())
    assert not filterset.is_valid()
    assert set(filterset.errors) == {"status", "customer", "ordering"}


def test_a_status_and_severity_page_reads_one_index_in_order(many):
    """?status=&severity= (integrations polling for new cases): the page's ids and the
    count are index-only scans of incident_status_sev_id_idx, newest first, no sort."""
    filtered = IncidentFilterSet(QueryDict("status=new&severity=S2"), Incident.objects.all()).qs
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE escalations_incident")  # real statistics, as production has
    for query in (filtered.values_list("pk", flat=True)[100:150], filtered.order_by().values("pk")):
        sql, params = query.query.sql_with_params()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # the test table is tiny
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Index Only Scan" in plan and "incident_status_sev_id_idx" in plan and "Sort" not in plan, plan
