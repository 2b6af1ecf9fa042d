"""POST /api/v1/incidents/{id}/<action>/: each returns the updated case; every refusal
is one error shape and leaves the database unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escalations.choices import EventKind
from escalations.models import CaseEvent, ClockPause, Incident, ResolveCycle
from escalations.services import incident_acknowledge, incident_resolve
from tests.conftest import T0
from tests.integration.api_support import _api_test_env, assert_error, client_for, clock, iso, row_counts

__all__ = ["_api_test_env", "clock"]

pytestmark = pytest.mark.django_db


def url(pk: int, action: str) -> str:
    return f"/api/v1/incidents/{pk}/{action}/"


def test_acknowledge_stops_the_tta_clock(agent, make_incident, clock):
    incident = make_incident()
    clock.move_to(T0 + timedelta(minutes=7))
    response = client_for(agent).post(url(incident.pk, "acknowledge"), {"version": 1}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "acknowledged" and body["acknowledged_at"] == iso(T0 + timedelta(minutes=7))
    assert body["tta_seconds"] == 420 and body["version"] == 2
    assert response["ETag"] == '"2"'
    clock.move_to(T0 + timedelta(minutes=30))
    later = client_for(agent).get(f"/api/v1/incidents/{incident.pk}/").json()
    assert later["tta_seconds"] == 420 and later["ttr_seconds"] == 1800
    event = CaseEvent.objects.get(incident=incident, kind=EventKind.ACKNOWLEDGED)
    assert event.actor == agent
    assert Incident.history.filter(id=incident.pk).order_by("-history_id").first().history_user == agent


def test_acknowledge_twice_is_an_invalid_transition(agent, make_incident, clock):
    incident = make_incident()
    client = client_for(agent)
    client.post(url(incident.pk, "acknowledge"), format="json")
    before = row_counts()
    assert_error(
        client.post(url(incident.pk, "acknowledge"), format="json"), 400, field="status", code="already_acknowledged"
    )
    assert row_counts() == before


def test_pause_and_resume(agent, make_incident, clock):
    incident = make_incident()
    client = client_for(agent)
    clock.move_to(T0 + timedelta(minutes=2))
    client.post(url(incident.pk, "acknowledge"), format="json")  # a new case cannot pause its TTA clock
    clock.move_to(T0 + timedelta(minutes=5))
    body = client.post(
        url(incident.pk, "pause"), {"reason": "third_party", "note": "Waiting on AWS"}, format="json"
    ).json()
    assert body["paused"] is True and body["status"] == "waiting_on_third_party"
    assert ClockPause.objects.get(incident=incident).started_by == agent
    clock.move_to(T0 + timedelta(minutes=65))
    body = client.post(url(incident.pk, "resume"), format="json").json()
    assert body["paused"] is False and body["status"] == "investigating"
    assert body["tta_seconds"] == 120
    assert body["ttr_seconds"] == 300  # the hour waiting on AWS does not count
    assert body["resolve_due_at"] == iso(T0 + timedelta(hours=9))


def test_pause_of_a_new_case_is_refused(agent, make_incident, clock):
    incident = make_incident()
    before = row_counts()
    response = client_for(agent).post(url(incident.pk, "pause"), {"reason": "customer", "note": "x"}, format="json")
    assert_error(response, 400, field="status")
    assert row_counts() == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"reason": "lunch", "note": "x"}, "reason"),
        ({"reason": "customer"}, "note"),
        ({"reason": "customer", "note": "   "}, "note"),
        ({"note": "x"}, "reason"),
        ({"reason": "customer", "note": "x", "extra": 1}, "extra"),
    ],
)
def test_pause_refuses_bad_input(agent, make_incident, clock, payload, field):
    incident = make_incident()
    incident_acknowledge(incident=incident, actor=agent, now=T0)
    before = row_counts()
    assert_error(client_for(agent).post(url(incident.pk, "pause"), payload, format="json"), 400, field=field)
    assert row_counts() == before


def test_resume_when_not_paused(agent, make_incident, clock):
    incident = make_incident()
    before = row_counts()
    assert_error(client_for(agent).post(url(incident.pk, "resume"), format="json"), 400, code="not_paused")
    assert row_counts() == before


def test_resolve_reopen_close(agent, make_incident, clock):
    incident = make_incident(arr_at_risk=0)  # S3: no checklist gates
    client = client_for(agent)
    clock.move_to(T0 + timedelta(hours=1))
    body = client.post(url(incident.pk, "resolve"), {"resolution": "Restarted the worker"}, format="json").json()
    assert body["status"] == "resolved" and body["resolved_at"] == iso(T0 + timedelta(hours=1))
    assert body["ttr_seconds"] == 3600
    body = client.post(url(incident.pk, "reopen"), {"reason": "Back again"}, format="json").json()
    assert body["status"] == "investigating" and body["reopen_count"] == 1 and body["resolve_cycle"] == 2
    assert body["ttr_seconds"] == 0 and body["resolved_at"] is None
    assert ResolveCycle.objects.filter(incident=incident).count() == 2
    client.post(url(incident.pk, "resolve"), {"resolution": "Fixed for real"}, format="json")
    body = client.post(url(incident.pk, "close"), format="json").json()
    assert body["status"] == "closed"


def test_resolve_refused_while_required_checklist_items_are_open(agent, make_incident, clock):
    incident = make_incident()  # S2: triage items required
    before = row_counts()
    assert_error(
        client_for(agent).post(url(incident.pk, "resolve"), {"resolution": "done"}, format="json"),
        400,
        field="checklist",
        code="checklist_open",
    )
    assert row_counts() == before


@pytest.mark.parametrize(
    ("action", "payload", "field"),
    [
        ("resolve", {}, "resolution"),
        ("resolve", {"resolution": ""}, "resolution"),
        ("reopen", {}, "reason"),
        ("severity", {"severity": "S1"}, "reason"),
        ("severity", {"reason": "x"}, "severity"),
        ("severity", {"severity": "S0", "reason": "x"}, "severity"),
        ("acknowledge", {"version": "one"}, "version"),
        ("acknowledge", {"version": -1}, "version"),
    ],
)
def test_actions_refuse_bad_input(agent, make_incident, clock, action, payload, field):
    incident = make_incident()
    before = row_counts()
    assert_error(client_for(agent).post(url(incident.pk, action), payload, format="json"), 400, field=field)
    assert row_counts() == before


def test_reopen_of_an_open_case_is_an_invalid_transition(agent, make_incident, clock):
    incident = make_incident()
    before = row_counts()
    assert_error(
        client_for(agent).post(url(incident.pk, "reopen"), {"reason": "x"}, format="json"),
        400,
        code="invalid_transition",
    )
    assert row_counts() == before


def test_severity_change(agent, manager, make_incident, clock):
    incident = make_incident()  # S2 from the ARR trigger
    client = client_for(agent)
    body = client.post(
        url(incident.pk, "severity"), {"severity": "S1", "reason": "Exec escalation"}, format="json"
    ).json()
    assert body["severity"] == "S1" and body["severity_source"] == "manual"
    assert body["ack_due_at"] == iso(T0 + timedelta(minutes=5))
    before = row_counts()
    assert_error(
        client.post(url(incident.pk, "severity"), {"severity": "S4", "reason": "meh"}, format="json"),
        403,
        field="severity",
        code="downgrade_needs_manager",
    )
    assert row_counts() == before
    body = (
        client_for(manager)
        .post(url(incident.pk, "severity"), {"severity": "S4", "reason": "Cosmetic"}, format="json")
        .json()
    )
    assert body["severity"] == "S4"


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("acknowledge", {}),
        ("pause", {"reason": "customer", "note": "x"}),
        ("resolve", {"resolution": "x"}),
        ("severity", {"severity": "S1", "reason": "x"}),
    ],
)
def test_actions_with_a_stale_version_are_412_and_change_nothing(agent, make_incident, clock, action, payload):
    incident = make_incident(arr_at_risk=0)
    incident_acknowledge(incident=incident, actor=agent, now=T0)  # version 2 now
    if action == "acknowledge":
        incident = make_incident(arr_at_risk=0)
        Incident.objects.filter(pk=incident.pk).update(version=5)
    before = row_counts()
    response = client_for(agent).post(url(incident.pk, action), {**payload, "version": 1}, format="json")
    error = assert_error(response, 412, field="version", code="version_conflict")
    assert error["current_version"] in (2, 5)
    assert row_counts() == before
    header = client_for(agent).post(url(incident.pk, action), payload, format="json", HTTP_IF_MATCH='"1"')
    assert_error(header, 412)


def test_actions_on_a_missing_case_are_404(agent):
    assert_error(client_for(agent).post(url(987654, "acknowledge"), format="json"), 404, code="not_found")


def test_actions_on_a_resolved_case(agent, make_incident, clock):
    incident = make_incident(arr_at_risk=0)
    incident_resolve(incident=incident, resolution="done", actor=agent, now=T0)
    before = row_counts()
    for action, payload in [
        ("acknowledge", {}),
        ("pause", {"reason": "customer", "note": "x"}),
        ("resolve", {"resolution": "again"}),
        ("severity", {"severity": "S1", "reason": "x"}),
    ]:
        assert_error(client_for(agent).post(url(incident.pk, action), payload, format="json"), 400, field="status")
    assert row_counts() == before
