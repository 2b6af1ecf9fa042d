"""Customer updates, timeline, checklist and handoffs of a case through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations.models import ChecklistItem, CustomerUpdate, HandoffPacket, Incident
from tests.checklists_support import complete_checklist
from tests.conftest import T0
from tests.integration.api_support import _api_test_env, assert_error, client_for, clock, iso, row_counts

__all__ = ["_api_test_env", "clock"]

pytestmark = pytest.mark.django_db

PACKET = {
    "summary": "EU checkout failing since 09:40",
    "customer_impact": "No EU orders",
    "actions_taken": "Rolled back 4.2",
    "next_steps": "Check the payment gateway",
    "open_questions": "Is the US affected?",
    "acceptance_criteria": "Gateway owner engaged",
}


# --- customer updates ---------------------------------------------------------------------


def test_post_and_list_customer_updates(agent, make_incident, clock):
    incident = make_incident()
    client = client_for(agent)
    clock.move_to(T0 + timedelta(minutes=20))
    response = client.post(
        f"/api/v1/incidents/{incident.pk}/updates/", {"body": "We are on it", "channel": "phone"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["channel"] == "phone" and body["was_late"] is False and body["posted_by"] == agent.pk
    clock.move_to(T0 + timedelta(hours=3))  # cadence is an hour: this one is late
    client.post(f"/api/v1/incidents/{incident.pk}/updates/", {"body": "Still on it"}, format="json")
    listed = client.get(f"/api/v1/incidents/{incident.pk}/updates/").json()
    assert [u["body"] for u in listed] == ["We are on it", "Still on it"]
    assert listed[1]["channel"] == "email" and listed[1]["was_late"] is True
    detail = client.get(f"/api/v1/incidents/{incident.pk}/").json()
    assert detail["next_update_due_at"] == iso(T0 + timedelta(hours=4))


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "body"),
        ({"body": "  "}, "body"),
        ({"body": "x", "channel": "pigeon"}, "channel"),
        ({"body": "x", "version": 9}, "version"),
    ],
)
def test_customer_update_refusals_change_nothing(agent, make_incident, clock, payload, field):
    incident = make_incident()
    before = row_counts()
    response = client_for(agent).post(f"/api/v1/incidents/{incident.pk}/updates/", payload, format="json")
    assert_error(response, 412 if field == "version" else 400, field=field)
    assert row_counts() == before


# --- timeline -----------------------------------------------------------------------------


def test_timeline_is_every_event_oldest_first(agent, make_incident, clock):
    incident = make_incident()
    client = client_for(agent)
    clock.move_to(T0 + timedelta(minutes=3))
    client.post(f"/api/v1/incidents/{incident.pk}/acknowledge/", format="json")
    events = client.get(f"/api/v1/incidents/{incident.pk}/timeline/").json()
    kinds = [e["kind"] for e in events]
    # Acknowledging ticks the item that stands for it, in the same moment.
    assert kinds[0] == "created" and kinds[-2:] == ["acknowledged", "checklist_item_done"]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert {"at", "kind", "actor", "detail"} <= set(events[0])
    assert events[-2]["actor"] == agent.pk and events[-2]["actor_username"] == agent.username


def test_timeline_query_count_is_constant(agent, make_incident, clock):
    incident = make_incident()
    client = client_for(agent)
    client.get(f"/api/v1/incidents/{incident.pk}/timeline/")

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            client.get(f"/api/v1/incidents/{incident.pk}/timeline/")
        return len(ctx.captured_queries)

    first = queries()
    for n in range(3):
        client.post(f"/api/v1/incidents/{incident.pk}/updates/", {"body": f"update {n}"}, format="json")
    assert queries() == first


# --- checklist ----------------------------------------------------------------------------


def test_checklist_and_complete(agent, make_incident, clock):
    incident = make_incident()  # S2: a checklist per stage
    client = client_for(agent)
    items = client.get(f"/api/v1/incidents/{incident.pk}/checklist/").json()
    assert items and {"id", "text", "required", "done", "stage", "checklist"} <= set(items[0])
    assert [item["stage"] for item in items][0] == "triage"  # in stage order
    assert "acknowledged" in {item["fact"] for item in items}  # ticks itself; people tick the others
    first = next(item for item in items if not item["fact"])
    response = client.post(f"/api/v1/checklist-items/{first['id']}/complete/", {"version": 1}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["done"] is True and response.json()["done_by"] == agent.pk
    assert Incident.objects.get(pk=incident.pk).version == 2
    undone = client.post(f"/api/v1/checklist-items/{first['id']}/complete/", {"done": False}, format="json").json()
    assert undone["done"] is False


def test_complete_refusals(agent, make_incident, clock):
    incident = make_incident()
    item = ChecklistItem.objects.filter(checklist__incident=incident, fact="").first()
    client = client_for(agent)
    before = row_counts()
    assert_error(client.post("/api/v1/checklist-items/987654/complete/", format="json"), 404)
    assert_error(client.post(f"/api/v1/checklist-items/{item.pk}/complete/", {"version": 7}, format="json"), 412)
    assert_error(
        client.post(f"/api/v1/checklist-items/{item.pk}/complete/", {"done": "maybe"}, format="json"), 400, field="done"
    )
    assert row_counts() == before


def test_complete_on_a_resolved_case_is_refused(agent, make_incident, clock):
    incident = make_incident()
    complete_checklist(incident, agent, T0, stage="triage")
    items = list(ChecklistItem.objects.filter(checklist__incident=incident, checklist__stage="triage", fact=""))
    client = client_for(agent)
    assert (
        client.post(f"/api/v1/incidents/{incident.pk}/resolve/", {"resolution": "ok"}, format="json").status_code == 200
    )
    before = row_counts()
    assert_error(
        client.post(f"/api/v1/checklist-items/{items[0].pk}/complete/", {"done": False}, format="json"),
        400,
        field="status",
    )
    assert row_counts() == before


# --- handoffs -----------------------------------------------------------------------------


def test_handoff_offer_accept(agent, other_agent, make_incident, clock):
    incident = make_incident()
    response = client_for(agent).post(
        f"/api/v1/incidents/{incident.pk}/handoffs/",
        {**PACKET, "to_user": other_agent.pk, "to_stage": "triage"},
        format="json",
    )
    assert response.status_code == 201, response.content
    handoff = response.json()
    assert handoff["status"] == "offered" and handoff["to_user"] == other_agent.pk
    assert handoff["summary"] == PACKET["summary"] and handoff["checklist_state"]
    before = row_counts()
    # Only the receiver answers.
    assert_error(
        client_for(agent).post(f"/api/v1/handoffs/{handoff['id']}/accept/", format="json"), 403, code="not_allowed"
    )
    assert row_counts() == before
    accepted = client_for(other_agent).post(f"/api/v1/handoffs/{handoff['id']}/accept/", format="json")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    incident.refresh_from_db()
    assert incident.stage_dri == other_agent
    listed = client_for(agent).get(f"/api/v1/incidents/{incident.pk}/handoffs/").json()
    assert [h["status"] for h in listed] == ["accepted"]


def test_handoff_reject_needs_a_reason(agent, other_agent, make_incident, clock):
    incident = make_incident()
    handoff = (
        client_for(agent)
        .post(
            f"/api/v1/incidents/{incident.pk}/handoffs/",
            {**PACKET, "to_user": other_agent.pk, "to_stage": "triage"},
            format="json",
        )
        .json()
    )
    client = client_for(other_agent)
    before = row_counts()
    assert_error(client.post(f"/api/v1/handoffs/{handoff['id']}/reject/", {}, format="json"), 400, field="reason")
    assert row_counts() == before
    rejected = client.post(f"/api/v1/handoffs/{handoff['id']}/reject/", {"reason": "Not my area"}, format="json")
    assert rejected.status_code == 200 and rejected.json()["rejection_reason"] == "Not my area"
    before = row_counts()
    assert_error(client.post(f"/api/v1/handoffs/{handoff['id']}/accept/", format="json"), 400, field="status")
    assert row_counts() == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"to_stage": "triage"}, "to_user"),
        ({"to_user": "OTHER"}, "to_stage"),
        ({"to_user": "OTHER", "to_stage": "triage", "summary": ""}, "summary"),
        ({"to_user": "SELF", "to_stage": "triage"}, "to_user"),
        ({"to_user": "OTHER", "to_stage": "command"}, "checklist"),
        ({"to_user": "OTHER", "to_stage": "fix"}, "to_stage"),
        ({"to_user": 987654, "to_stage": "triage"}, "to_user"),
        ({"to_team": 987654, "to_stage": "triage"}, "to_team"),
        ({"to_user": "OTHER", "to_stage": "triage", "version": 4}, "version"),
    ],
)
def test_handoff_offer_refusals_change_nothing(agent, other_agent, make_incident, clock, payload, field):
    incident = make_incident()
    users = {"OTHER": other_agent.pk, "SELF": agent.pk}
    payload = {**PACKET, **{k: users.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}}
    before = row_counts()
    response = client_for(agent).post(f"/api/v1/incidents/{incident.pk}/handoffs/", payload, format="json")
    assert_error(response, 412 if field == "version" else 400, field=field)
    assert row_counts() == before
    assert not HandoffPacket.objects.exists() and not CustomerUpdate.objects.exists()


def test_handoff_answers_on_missing_handoff(agent):
    assert_error(client_for(agent).post("/api/v1/handoffs/987654/accept/", format="json"), 404)
    assert_error(client_for(agent).post("/api/v1/handoffs/987654/reject/", {"reason": "x"}, format="json"), 404)
