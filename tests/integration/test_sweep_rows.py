"""The sweep writes its rows without model instances (COPY on PostgreSQL) and its cases'
history rows from the database. What it writes must be what the ORM and simple-history
would: each created row has exactly one "+" history row by the system user holding the
same values, and each case it touched has a "~" history row equal to the stored case."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escalations.fastpath import writes
from escalations.models import Breach, CaseEvent, Escalation, Incident, Notification, SlaWarning
from escalations.services.common import system_user
from escalations.services.engine.sweep import sweep_run
from tests.engine_support import oncall_fixture, roster  # noqa: F401

M = timedelta(minutes=1)


def _values(obj, model) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields}


def test_every_row_the_sweep_creates_has_one_matching_history_row(make_incident, now, team, oncall):
    incident = make_incident(team=team)  # S2: warned at 22.5 minutes, breached at 30
    at = now + 31 * M
    result = sweep_run(now=at, source="test")
    assert (result.breaches, result.warnings, result.escalations) == (1, 1, 1)
    created = {
        Breach: Breach.objects.filter(incident=incident),
        SlaWarning: SlaWarning.objects.filter(incident=incident),
        Escalation: Escalation.objects.filter(incident=incident),
        Notification: Notification.objects.filter(incident=incident, created_at=at),
        CaseEvent: CaseEvent.objects.filter(incident=incident, at=at),
    }
    system = system_user()
    for model, rows in created.items():
        rows = list(rows)
        assert rows, model
        for row in rows:
            [history] = model.history.filter(id=row.pk)
            assert (history.history_type, history.history_user) == ("+", system), model
            assert _values(history, model) == _values(row, model), model
    assert {n.escalation_id for n in created[Notification]} == {created[Escalation].get().pk}
    assert created[Escalation].get().breach_id == created[Breach].get().pk

    stored = Incident.objects.get(pk=incident.pk)
    latest = stored.history.latest()
    assert (latest.history_type, latest.history_user) == ("~", system)
    tracked = [f for f in Incident._meta.concrete_fields if f.name != "updated_at"]  # excluded from history
    assert {f.attname: getattr(latest, f.attname) for f in tracked} == {
        f.attname: getattr(stored, f.attname) for f in tracked
    }
    assert stored.ack_breached_at == at and stored.escalation_level == 1


def test_a_row_with_an_unknown_or_missing_column_is_refused(db, now):
    table = writes._copy_table(Breach)
    row = {"id": 7, "incident_id": 1, "kind": "ack", "cycle": 1, "severity": "S2", "due_at": now, "detected_at": now}
    values = dict(zip(("id", *(a for a, _ in table.defaults)), table.values(dict(row)), strict=True))
    assert values["cause_id"] is None and values["cause_note"] == "" and values["handoff_id"] is None  # defaults
    assert values["cause_suggested_id"] is None and values["cause_confirmed_at"] is None
    with pytest.raises(ValueError, match="unknown \\['typo'\\]"):
        table.values({**row, "typo": 1})
    with pytest.raises(ValueError, match="missing \\['detected_at'\\]"):
        table.values({k: v for k, v in row.items() if k != "detected_at"})


def test_a_parent_row_is_linked_by_its_id_and_json_is_serialised(db, now):
    table = writes._copy_table(Escalation)
    breach = {"id": 41}
    row = {"id": 9, "incident_id": 1, "level": 1, "reason": "r", "breach": breach, "step_id": None,
           "notified": [{"user": 3}], "created_at": now, "actor_id": 1}  # fmt: skip
    values = dict(zip(("id", *(a for a, _ in table.defaults)), table.values(row), strict=True))
    assert values["breach_id"] == 41 and values["notified"] == '[{"user": 3}]' and values["is_executive"] is False
