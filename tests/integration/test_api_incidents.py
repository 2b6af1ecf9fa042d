"""GET/POST /api/v1/incidents/ and GET/PATCH /api/v1/incidents/{id}/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations.models import Incident
from escalations.services import incident_acknowledge, incident_pause, incident_set_stage
from escalations.sla import QueueRank
from tests.checklists_support import complete_checklist
from tests.conftest import T0
from tests.integration.api_support import _api_test_env, assert_error, client_for, clock, iso, row_counts

__all__ = ["_api_test_env", "clock"]

pytestmark = pytest.mark.django_db

LIST = "/api/v1/incidents/"


def detail(pk: int) -> str:
    return f"/api/v1/incidents/{pk}/"


CONTRACT_FIELDS = {
    "id",
    "reference",
    "title",
    "description",
    "customer",
    "channel",
    "reported_at",
    "arr_at_risk",
    "users_affected_pct",
    "data_risk",
    "legal_risk",
    "severity",
    "severity_source",
    "status",
    "stage",
    "commander",
    "ack_due_at",
    "resolve_due_at",
    "next_update_due_at",
    "acknowledged_at",
    "resolved_at",
    "paused",
    "tta_seconds",
    "ttr_seconds",
    "escalation_level",
    "reopen_count",
    "is_drill",
    "version",
}


# --- create -----------------------------------------------------------------------------


def test_create_opens_a_case_with_trigger_severity_and_contract_fields(agent, customer, email_channel, clock):
    response = client_for(agent).post(
        LIST,
        {"title": "Checkout down", "customer": customer.pk, "channel": "email", "arr_at_risk": "75000"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert CONTRACT_FIELDS <= set(body)
    incident = Incident.objects.get(pk=body["id"])
    assert body["reference"] == incident.reference
    assert body["severity"] == "S2" and body["severity_source"] == "trigger"
    assert body["channel"] == "email" and body["customer"] == customer.pk
    assert body["reported_at"] == iso(T0)  # defaults to now
    assert body["ack_due_at"] == iso(T0 + timedelta(minutes=30))
    assert body["status"] == "new" and body["paused"] is False and body["version"] == 1
    assert body["tta_seconds"] == 0 and body["ttr_seconds"] == 0
    assert response["ETag"] == '"1"'
    assert incident.created_by == agent
    # Rendered from the instance intake returned, not read back: the same as a read.
    assert client_for(agent).get(detail(incident.pk)).json() == body
    assert incident.history.get().history_user == agent


def test_create_raising_severity_needs_a_reason(agent, customer, clock):
    client = client_for(agent)
    before = row_counts()
    response = client.post(
        LIST, {"title": "x", "customer": customer.pk, "channel": "email", "severity": "S1"}, format="json"
    )
    assert_error(response, 400, field="severity_reason")
    assert row_counts() == before
    ok = client.post(
        LIST,
        {"title": "x", "customer": customer.pk, "channel": "email", "severity": "S1", "severity_reason": "CEO call"},
        format="json",
    )
    assert ok.status_code == 201
    assert ok.json()["severity"] == "S1" and ok.json()["severity_source"] == "manual"


def test_create_below_the_trigger_floor_is_a_managers_call(agent, manager, customer, clock):
    payload = {
        "title": "x",
        "customer": customer.pk,
        "channel": "email",
        "data_risk": True,
        "severity": "S3",
        "severity_reason": "Test data only",
    }
    before = row_counts()
    assert_error(
        client_for(agent).post(LIST, payload, format="json"), 403, field="severity", code="downgrade_needs_manager"
    )
    assert row_counts() == before
    response = client_for(manager).post(LIST, payload, format="json")
    assert response.status_code == 201 and response.json()["severity"] == "S3"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"customer": "CUSTOMER", "channel": "email"}, "title"),
        ({"title": "", "customer": "CUSTOMER", "channel": "email"}, "title"),
        ({"title": "x", "channel": "email"}, "customer"),
        ({"title": "x", "customer": 999999, "channel": "email"}, "customer"),
        ({"title": "x", "customer": "CUSTOMER", "channel": "no-such"}, "channel"),
        ({"title": "x", "customer": "CUSTOMER", "channel": "email", "arr_at_risk": "-1"}, "arr_at_risk"),
        ({"title": "x", "customer": "CUSTOMER", "channel": "email", "arr_at_risk": "NaN"}, "arr_at_risk"),
        ({"title": "x", "customer": "CUSTOMER", "channel": "email", "users_affected_pct": "101"}, "users_affected_pct"),
        ({"title": "x", "customer": "CUSTOMER", "channel": "email", "severity": "S9"}, "severity"),
        ({"title": "x", "customer": "CUSTOMER", "channel": "email", "reported_at": "yesterday"}, "reported_at"),
        (
            {"title": "x", "customer": "CUSTOMER", "channel": "email", "reported_at": "2026-11-20T11:00:00Z"},
            "reported_at",
        ),  # an hour in the future
        (
            {"title": "x", "customer": "CUSTOMER", "channel": "email", "reported_at": "0026-11-20T09:00:00Z"},
            "reported_at",
        ),  # a typo'd year
        ({"title": "x", "customer": "CUSTOMER", "channel": "email", "status": "resolved"}, "status"),
        ({"title": "x", "customer": "CUSTOMER", "channel": "email", "severty": "S1"}, "severty"),
        ({"title": "x", "customer": "CUSTOMER", "channel": "email", "version": 3}, "version"),
        ({"title": "x", "customer": "CUSTOMER", "channel": "email", "data_risk": "perhaps"}, "data_risk"),
        ({"title": "x", "customer": "CUSTOMER", "channel": "email", "commander": 987654}, "commander"),
    ],
)
def test_create_refuses_bad_input_naming_the_field_and_writes_nothing(agent, customer, clock, payload, field):
    payload = {k: (customer.pk if v == "CUSTOMER" else v) for k, v in payload.items()}
    before = row_counts()
    assert_error(client_for(agent).post(LIST, payload, format="json"), 400, field=field)
    assert row_counts() == before


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"a string"', b"null"])
def test_create_refuses_bodies_that_are_not_a_json_object(agent, clock, body):
    before = row_counts()
    response = client_for(agent).post(LIST, body, content_type="application/json")
    assert_error(response, 400)
    assert row_counts() == before


def test_create_refuses_form_encoded_bodies(agent, customer, clock):
    response = client_for(agent).post(LIST, {"title": "x", "customer": customer.pk, "channel": "email"})
    assert_error(response, 415, code="unsupported_media_type")


# --- detail -------------------------------------------------------------------------------


def test_detail_reports_clock_seconds_excluding_pauses(agent, make_incident, clock):
    incident = make_incident()  # S2, 24x7, reported at T0
    incident_acknowledge(incident=incident, actor=agent, now=T0 + timedelta(minutes=1))
    incident_pause(
        incident=incident, reason="customer", note="Waiting for logs", actor=agent, now=T0 + timedelta(minutes=10)
    )
    clock.move_to(T0 + timedelta(minutes=25))
    response = client_for(agent).get(detail(incident.pk))
    assert response.status_code == 200
    body = response.json()
    assert body["paused"] is True and body["status"] == "waiting_on_customer"
    assert body["tta_seconds"] == 60 and body["ttr_seconds"] == 600
    assert response["ETag"] == f'"{body["version"]}"'


def test_detail_of_a_missing_case_is_404_in_the_error_shape(agent):
    assert_error(client_for(agent).get(detail(987654)), 404, code="not_found")


def test_detail_huge_id_is_404_not_500(agent):
    assert_error(client_for(agent).get(detail(10**30)), 404)


# --- list ---------------------------------------------------------------------------------


def test_list_is_paginated_newest_first(agent, make_incident, clock):
    ids = [make_incident(title=f"Case {n}").pk for n in range(3)]
    response = client_for(agent).get(LIST, {"page_size": 2})
    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 3 and body["next"] and body["previous"] is None
    assert [row["id"] for row in body["results"]] == ids[::-1][:2]
    page2 = client_for(agent).get(LIST, {"page_size": 2, "page": 2}).json()
    assert [row["id"] for row in page2["results"]] == [ids[0]]


def test_list_out_of_range_page_names_the_parameter(agent, make_incident):
    assert_error(client_for(agent).get(LIST, {"page": 99}), 400, field="page")
    assert_error(client_for(agent).get(LIST, {"page": "abc"}), 400, field="page")


def test_list_filters(agent, duty_manager, make_incident, customer, clock):
    from tests.factories import CustomerFactory

    other = CustomerFactory(name="Globex")
    s2 = make_incident()
    s3 = make_incident(arr_at_risk=0, title="Minor")
    drill = make_incident(is_drill=True, title="Practice", actor=duty_manager, stage_dri=agent)
    other_case = make_incident(customer=other, arr_at_risk=0)
    from escalations.services import incident_acknowledge

    incident_acknowledge(incident=s3, actor=agent, now=T0)
    # A breach, as the sweep records it: the marker and the breached band it stores.
    Incident.objects.filter(pk=s2.pk).update(resolve_breached_at=T0, queue_rank=QueueRank.BREACHED)
    client = client_for(agent)

    def ids(**params):
        response = client.get(LIST, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(status="acknowledged") == {s3.pk}
    assert ids(status=["acknowledged", "new"]) == {s2.pk, s3.pk, drill.pk, other_case.pk}
    assert ids(severity="S2") == {s2.pk, drill.pk}
    assert ids(customer=other.pk) == {other_case.pk}
    assert ids(breached="true") == {s2.pk}
    assert ids(breached="false") == {s3.pk, drill.pk, other_case.pk}
    assert ids(is_drill="true") == {drill.pk}
    ordered = client.get(LIST, {"ordering": "severity"}).json()["results"]
    assert [r["severity"] for r in ordered] == sorted(r["severity"] for r in ordered)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"severity": "S7"}, "severity"),
        ({"customer": "abc"}, "customer"),
        ({"customer": 999999}, "customer"),
        ({"ordering": "title"}, "ordering"),
        ({"page_size": "x"}, None),
    ],
)
def test_list_bad_filters_name_the_parameter(agent, make_incident, params, field):
    response = client_for(agent).get(LIST, params)
    if field is None:  # DRF ignores an unparseable page_size and uses the default
        assert response.status_code == 200
    else:
        assert_error(response, 400, field=field)


def test_list_query_count_does_not_grow_with_rows(agent, make_incident, clock):
    client = client_for(agent)
    make_incident()
    client.get(LIST)  # warm caches (content types, permissions of other users)

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(LIST).status_code == 200
        return len(ctx.captured_queries)

    one = count_queries()
    for n in range(4):
        incident = make_incident(title=f"More {n}")
        incident_acknowledge(incident=incident, actor=agent, now=T0)
        incident_pause(incident=incident, reason="customer", note="logs", actor=agent, now=T0)
    assert count_queries() == one
    # PostgreSQL: token+user+permissions (escalations.api.authentication), row estimate
    # (exact count below 100,000 rows), count, the page's ids, its rows with their pauses.
    # Elsewhere: permissions and pauses are one query each more.
    assert one <= 5
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(detail(incident.pk)).status_code == 200
    # token+user+permissions, the case, its pauses.
    assert len(ctx.captured_queries) == 3


def test_list_and_detail_need_authentication():
    assert_error(client_for(None).get(LIST), 401, code="not_authenticated")
    assert_error(client_for(None).get(detail(1)), 401)
    response = client_for(None).get(LIST, HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(response, 401, code="authentication_failed")


# --- PATCH --------------------------------------------------------------------------------


def test_patch_edits_details_and_records_the_actor(agent, make_incident, team, clock):
    incident = make_incident()
    response = client_for(agent).patch(
        detail(incident.pk), {"title": "Renamed", "team": team.pk, "version": 1}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "Renamed" and body["team"] == team.pk and body["version"] == 2
    incident.refresh_from_db()
    assert incident.title == "Renamed"
    assert incident.history.order_by("-history_id").first().history_user == agent


def test_patch_impact_facts_raise_the_severity(agent, make_incident, clock):
    incident = make_incident(arr_at_risk=0)
    body = client_for(agent).patch(detail(incident.pk), {"users_affected_pct": "25"}, format="json").json()
    assert body["severity"] == "S1" and body["severity_source"] == "trigger"


def test_patch_severity_with_reason_and_stage(agent, make_incident, clock):
    incident = make_incident(arr_at_risk=0)
    client = client_for(agent)
    body = client.patch(
        detail(incident.pk), {"severity": "S2", "severity_reason": "Renewal at risk"}, format="json"
    ).json()
    assert body["severity"] == "S2" and body["severity_source"] == "manual"
    assert_error(
        client.patch(detail(incident.pk), {"severity_reason": "why"}, format="json"), 400, field="severity_reason"
    )


def test_patch_is_all_or_nothing(agent, make_incident, clock):
    incident = make_incident()  # S2 from ARR
    before = row_counts()
    # The title edit would succeed; the downgrade below the trigger floor is refused:
    # neither lands.
    response = client_for(agent).patch(
        detail(incident.pk), {"title": "Renamed", "severity": "S4", "severity_reason": "meh"}, format="json"
    )
    assert_error(response, 403, field="severity")
    assert row_counts() == before
    incident.refresh_from_db()
    assert incident.title != "Renamed" and incident.version == 1


def test_patch_stage_blocked_by_open_checklist_items(agent, make_incident, clock):
    incident = make_incident()  # S2 triage has required items
    before = row_counts()
    assert_error(
        client_for(agent).patch(detail(incident.pk), {"stage": "command"}, format="json"),
        400,
        field="checklist",
        code="checklist_open",
    )
    assert row_counts() == before


def test_patch_moving_a_stage_back_needs_a_stage_reason_and_puts_it_on_the_timeline(agent, make_incident, clock):
    incident = make_incident(stage_dri=agent)
    complete_checklist(incident, agent, T0, stage="triage")
    incident_set_stage(incident=incident.pk, stage="command", actor=agent, now=T0)
    client = client_for(agent)
    before = row_counts()
    for payload in ({"stage": "triage"}, {"stage": "triage", "stage_reason": "  "}):
        error = assert_error(client.patch(detail(incident.pk), payload, format="json"), 400, field="stage_reason")
        assert error["fields"]["stage_reason"] == ["Say why the case moves back from Command to Triage."]
    assert_error(client.patch(detail(incident.pk), {"stage_reason": "why"}, format="json"), 400, field="stage_reason")
    assert row_counts() == before

    body = client.patch(
        detail(incident.pk), {"stage": "triage", "stage_reason": "Impact grew to a second region"}, format="json"
    ).json()
    assert body["stage"] == "triage"
    timeline = client.get(f"{detail(incident.pk)}timeline/").json()
    details = [event["detail"] for event in timeline if event["kind"] == "stage_changed"]
    assert "Moved back from Command to Triage: Impact grew to a second region" in details


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "resolved"}, "status"),
        ({"version": 0}, "version"),
        ({"title": ""}, "title"),
        ({"reported_at": "2026-11-20T09:00:00Z"}, "reported_at"),
        ({"customer": 1}, "customer"),
        ({"commander": "me"}, "commander"),
        ({"stage": "lunch"}, "stage"),
    ],
)
def test_patch_refuses_bad_or_read_only_fields(agent, make_incident, clock, payload, field):
    incident = make_incident()
    before = row_counts()
    assert_error(client_for(agent).patch(detail(incident.pk), payload, format="json"), 400, field=field)
    assert row_counts() == before


def test_patch_with_a_stale_version_is_412_and_changes_nothing(agent, other_agent, team, make_incident, clock):
    incident = make_incident(team=team)
    client_for(other_agent).patch(detail(incident.pk), {"title": "Theirs"}, format="json")
    before = row_counts()
    response = client_for(agent).patch(detail(incident.pk), {"title": "Mine", "version": 1}, format="json")
    error = assert_error(response, 412, field="version", code="version_conflict")
    assert error["current_version"] == 2
    assert error["changed"]["title"] == ["Checkout failing for EU users", "Theirs"]
    assert row_counts() == before
    incident.refresh_from_db()
    assert incident.title == "Theirs"


def test_patch_if_match_header(agent, make_incident, clock):
    incident = make_incident()
    client = client_for(agent)
    assert_error(client.patch(detail(incident.pk), {"title": "A"}, format="json", HTTP_IF_MATCH='"7"'), 412)
    assert_error(
        client.patch(detail(incident.pk), {"title": "A"}, format="json", HTTP_IF_MATCH="seven"), 400, field="version"
    )
    assert_error(
        client.patch(detail(incident.pk), {"title": "A", "version": 1}, format="json", HTTP_IF_MATCH='"2"'),
        400,
        field="version",
    )
    response = client.patch(detail(incident.pk), {"title": "A"}, format="json", HTTP_IF_MATCH='W/"1"')
    assert response.status_code == 200 and response["ETag"] == '"2"'
    assert client.patch(detail(incident.pk), {"title": "B"}, format="json", HTTP_IF_MATCH="*").status_code == 200


def test_patch_empty_body_changes_nothing(agent, make_incident, clock):
    incident = make_incident()
    response = client_for(agent).patch(detail(incident.pk), {}, format="json")
    assert response.status_code == 200 and response.json()["version"] == 1


def test_put_and_delete_are_not_allowed(agent, make_incident, clock):
    incident = make_incident()
    assert_error(client_for(agent).put(detail(incident.pk), {}, format="json"), 405, code="method_not_allowed")
    assert_error(client_for(agent).delete(detail(incident.pk)), 405)
