"""Each fast path writes and reads exactly what its plain Django + simple-history
counterpart (escalations.fastpath.plain) does: the same rows, the same history rows
(type, user, change reason, every tracked value), the same values read back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from escalations import fastpath
from escalations.choices import ClockKind, EventKind
from escalations.fastpath import plain
from escalations.models import Breach, CaseEvent, Escalation, Incident, Notification
from escalations.services.common import event_build, system_user

H = timedelta(hours=1)
# Differ by construction between two writes of the same content.
WRITE_IDENTITY = {
    "id",
    "history_id",
    "history_date",
    "incident_id",
    "breach_id",
    "escalation_id",
    "idempotency_key",
    "created_at",
    "updated_at",
}


def _history(model, pks) -> list[dict]:
    rows = model.history.filter(id__in=pks).order_by("id", "history_id").values()
    return [{k: v for k, v in row.items() if k not in WRITE_IDENTITY} for row in rows]


def _stored(model, pks) -> list[dict]:
    rows = model.objects.filter(pk__in=pks).order_by("pk").values()
    return [{k: v for k, v in row.items() if k not in WRITE_IDENTITY} for row in rows]


@pytest.mark.parametrize("count", [1, 3])
def test_insert_with_history_equals_bulk_create_with_history(make_incident, agent, count):
    incident = make_incident()

    def events():
        return [
            event_build(incident=incident, kind=EventKind.NOTE, actor=agent, at=incident.reported_at, new={"n": n})
            for n in range(count)
        ]

    fast = fastpath.insert_with_history(events(), actor=agent)
    slow = plain.insert_with_history(events(), actor=agent)
    assert all(e.pk is not None and not e._state.adding for e in fast)
    fast_pks, slow_pks = [e.pk for e in fast], [e.pk for e in slow]
    assert _stored(CaseEvent, fast_pks) == _stored(CaseEvent, slow_pks)
    assert _history(CaseEvent, fast_pks) == _history(CaseEvent, slow_pks)
    assert {h["history_user_id"] for h in _history(CaseEvent, fast_pks)} == {agent.pk}


def _sweep_rows(incident, at) -> dict:
    """One breach, the escalation it caused and its notification, linked as the sweep
    links them (a child holds its parent's row)."""
    breach = {"incident_id": incident.pk, "kind": ClockKind.ACK, "cycle": 1, "severity": incident.severity,
              "due_at": at - H, "detected_at": at}  # fmt: skip
    escalation = {"incident_id": incident.pk, "level": 1, "reason": "ack breached", "breach": breach,
                  "created_at": at, "actor_id": system_user().pk}  # fmt: skip
    notification = {"incident_id": incident.pk, "escalation": escalation, "channel": "in_app",
                    "recipient_id": incident.created_by_id, "subject": "Breached", "idempotency_key": f"k{incident.pk}", "payload": {"at": at.isoformat()},
                    "created_at": at}  # fmt: skip
    event = {"incident_id": incident.pk, "kind": EventKind.BREACHED, "at": at, "actor_id": system_user().pk,
             "old": {}, "new": {"kind": "ack"}, "detail": "Acknowledge SLA breached"}  # fmt: skip
    return {Breach: [breach], Escalation: [escalation], Notification: [notification], CaseEvent: [event]}


def test_insert_rows_with_history_equals_bulk_create_with_history(make_incident, now):
    first, second = make_incident(title="A"), make_incident(title="A")
    fast_rows, slow_rows = _sweep_rows(first, now), _sweep_rows(second, now)
    fastpath.insert_rows_with_history(fast_rows, actor=system_user())
    plain.insert_rows_with_history(slow_rows, actor=system_user())
    for model in fast_rows:
        fast_pks = [row["id"] for row in fast_rows[model]]
        slow_pks = [row["id"] for row in slow_rows[model]]
        assert _stored(model, fast_pks) == _stored(model, slow_pks), model
        assert _history(model, fast_pks) == _history(model, slow_pks), model
    escalation = Escalation.objects.get(pk=fast_rows[Escalation][0]["id"])
    assert escalation.breach_id == fast_rows[Breach][0]["id"]


def test_update_with_history_equals_bulk_update_with_history(make_incident, now, agent):
    fast_case, slow_case = make_incident(title="Same"), make_incident(title="Same")
    fields = ["next_check_at", "ack_breached_at", "escalation_level"]
    for case in (fast_case, slow_case):
        case.next_check_at, case.ack_breached_at, case.escalation_level = now + H, now, 2
    fastpath.update_with_history([fast_case], fields, actor=agent)
    plain.update_with_history([slow_case], fields, actor=agent)
    assert _stored(Incident, [fast_case.pk]) == _stored(Incident, [slow_case.pk])
    fast_history = Incident.history.filter(id=fast_case.pk).latest()
    slow_history = Incident.history.filter(id=slow_case.pk).latest()
    tracked = [f.attname for f in Incident.history.model.tracked_fields if f.attname not in WRITE_IDENTITY]
    assert {a: getattr(fast_history, a) for a in tracked} == {a: getattr(slow_history, a) for a in tracked}
    for history in (fast_history, slow_history):
        assert (history.history_type, history.history_user_id, history.history_change_reason) == ("~", agent.pk, None)


def test_fetch_rows_reads_what_the_cursor_reads(make_incident):
    pks = [make_incident().pk for _ in range(3)]
    sql = (
        'SELECT "id", "reported_at", "title", "arr_at_risk" FROM "escalations_incident" WHERE "id" = ANY(%s) ORDER BY 1'
    )
    fast, slow = fastpath.fetch_rows(sql, [pks]), plain.fetch_rows(sql, [pks])
    assert fast == slow and len(fast) == 3
    assert all(row[1].utcoffset() == timedelta(0) for row in fast)
    # The loader is swapped on fetch_rows' own cursor only.
    with connection.cursor() as cursor:
        cursor.execute(sql, [pks])
        assert cursor.fetchall() == slow


@pytest.mark.parametrize(
    "query",
    ["", "status=new&severity=S2", "status=new&status=acknowledged", "breached=true", "status=nope&ordering=sideways"],
)
def test_the_per_request_filterset_filters_as_django_filter_does(make_incident, query):
    """escalations.fastpath.filters.FilterSet (no deep copies) against a class with the
    same filters on django-filter's own FilterSet: same rows, same errors, and a second
    request's data never leaks into the first's filters."""
    import django_filters
    from django.http import QueryDict

    from escalations.filtersets import IncidentFilterSet

    make_incident(title="A")
    make_incident(title="B", data_risk=True)

    class PlainIncidentFilterSet(django_filters.FilterSet):
        locals().update(IncidentFilterSet.declared_filters)

        class Meta(IncidentFilterSet.Meta):
            pass

    for name in IncidentFilterSet.declared_filters:
        if getattr(IncidentFilterSet, f"filter_{name}", None) is not None:
            setattr(PlainIncidentFilterSet, f"filter_{name}", getattr(IncidentFilterSet, f"filter_{name}"))
    fast = IncidentFilterSet(QueryDict(query), Incident.objects.order_by("pk"))
    slow = PlainIncidentFilterSet(QueryDict(query), Incident.objects.order_by("pk"))
    assert fast.is_valid() == slow.is_valid()
    assert dict(fast.errors) == dict(slow.errors)
    if fast.is_valid():
        assert list(fast.qs.values_list("pk", flat=True)) == list(slow.qs.values_list("pk", flat=True))
    other = IncidentFilterSet(QueryDict("severity=S4"), Incident.objects.all())
    assert other.is_valid() and fast.data == QueryDict(query)
