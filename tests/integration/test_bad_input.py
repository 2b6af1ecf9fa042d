"""Bad input through the services: each refusal names the field at fault and leaves the
database exactly as it was (no orphan rows, no history rows). Then the database's own
check and unique constraints, which hold even when something bypasses the services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import IntegrityError, transaction

from escalations.choices import ClockKind, HandoffStatus, Stage, Status
from escalations.models import Breach, ClockPause, HandoffPacket, Incident, ResolveCycle
from escalations.services import (
    ServiceError,
    customer_update_post,
    handoff_offer,
    incident_acknowledge,
    incident_change_severity,
    incident_create,
    incident_pause,
    incident_resolve,
    incident_update,
)

pytestmark = pytest.mark.django_db
M = timedelta(minutes=1)
PACKET = {"summary": "s", "customer_impact": "c", "next_steps": "n"}


def row_counts() -> dict[str, int]:
    """Rows of every model of the app, the Historical* ones included."""
    models = apps.get_app_config("escalations").get_models()
    return {model._meta.label: model._default_manager.count() for model in models}


def test_row_counts_cover_the_history_tables():
    labels = set(row_counts())
    assert {"escalations.Incident", "escalations.HistoricalIncident", "escalations.CaseEvent"} <= labels
    assert "escalations.HistoricalCaseEvent" in labels
    assert "escalations.HistoricalClockPause" in labels


@pytest.fixture
def world(make_incident, agent, other_agent, duty_manager, outsider, customer, email_channel, now):
    """An S2 (acknowledged, version 2) and an S1, plus everything the bad calls need."""
    s2 = incident_acknowledge(incident=make_incident(), actor=agent, now=now)
    s1 = make_incident(data_risk=True, external_id="CRM-1")
    handoff_offer(incident=s1, actor=agent, now=now, to_stage=Stage.TRIAGE, to_user=other_agent, **PACKET)
    return {
        "s2": s2,
        "s1": s1,
        "agent": agent,
        "other": other_agent,
        "customer": customer,
        "channel": email_channel,
        "now": now,
        "dm": duty_manager,
        "outsider": outsider,
    }


def create(w, **overrides):
    values = {"actor": w["agent"], "title": "Down", "customer": w["customer"], "channel": w["channel"], "now": w["now"]}
    values.update(overrides)
    return incident_create(**values)


BAD_CALLS: dict[str, tuple[Callable[[dict], object], str]] = {
    "negative ARR": (lambda w: create(w, arr_at_risk=-1), "arr_at_risk"),
    "ARR not a number": (lambda w: create(w, arr_at_risk="lots"), "arr_at_risk"),
    "percentage over 100": (lambda w: create(w, users_affected_pct=Decimal("100.5")), "users_affected_pct"),
    "negative percentage": (lambda w: create(w, users_affected_pct=-3), "users_affected_pct"),
    "no channel": (lambda w: create(w, channel=None), "channel"),
    "no customer": (lambda w: create(w, customer=None), "customer"),
    "blank title": (lambda w: create(w, title="   "), "title"),
    "reported in the future": (lambda w: create(w, reported_at=w["now"] + 2 * M), "reported_at"),
    "naive reported_at": (lambda w: create(w, reported_at=datetime(2026, 11, 20, 9)), "reported_at"),
    "unknown severity": (lambda w: create(w, severity="S0", severity_reason="x"), "severity"),
    "raise without reason": (lambda w: create(w, severity="S1"), "severity_reason"),
    "downgrade by an agent": (lambda w: create(w, arr_at_risk=60000, severity="S4", severity_reason="x"), "severity"),
    "duplicate external id": (lambda w: create(w, external_id="CRM-1"), "external_id"),
    "pause without a note": (
        lambda w: incident_pause(incident=w["s2"], reason="customer", note="", actor=w["agent"], now=w["now"]),
        "note",
    ),
    "pause without a reason": (
        lambda w: incident_pause(incident=w["s2"], reason="", note="waiting", actor=w["agent"], now=w["now"]),
        "reason",
    ),
    "resolve with open required items": (
        lambda w: incident_resolve(incident=w["s2"], resolution="Fixed", actor=w["agent"], now=w["now"]),
        "checklist",
    ),
    "resolve S1 without commander": (
        lambda w: incident_resolve(incident=w["s1"], resolution="Fixed", actor=w["agent"], now=w["now"]),
        "commander",
    ),
    "stale version": (
        lambda w: incident_pause(
            incident=w["s2"], reason="customer", note="x", actor=w["agent"], now=w["now"], expected_version=1
        ),
        "version",
    ),
    "edit with negative ARR": (
        lambda w: incident_update(incident=w["s2"], actor=w["agent"], now=w["now"], arr_at_risk=-5),
        "arr_at_risk",
    ),
    "edit with 101 %": (
        lambda w: incident_update(incident=w["s2"], actor=w["agent"], now=w["now"], users_affected_pct=101),
        "users_affected_pct",
    ),
    "edit to no channel": (
        lambda w: incident_update(incident=w["s2"], actor=w["agent"], now=w["now"], channel=None),
        "channel",
    ),
    "outsider as owner": (
        lambda w: incident_update(incident=w["s2"], actor=w["agent"], now=w["now"], stage_dri=w["outsider"]),
        "stage_dri",
    ),
    "severity change without reason": (
        lambda w: incident_change_severity(incident=w["s2"], severity="S1", reason="", actor=w["agent"], now=w["now"]),
        "reason",
    ),
    "empty customer update": (
        lambda w: customer_update_post(incident=w["s2"], body=" ", channel=None, actor=w["agent"], now=w["now"]),
        "body",
    ),
    "second pending handoff": (
        lambda w: handoff_offer(
            incident=w["s1"], actor=w["agent"], now=w["now"], to_stage=Stage.TRIAGE, to_user=w["dm"], **PACKET
        ),
        "to_user",
    ),
    "handoff without next steps": (
        lambda w: handoff_offer(
            incident=w["s2"],
            actor=w["agent"],
            now=w["now"],
            to_stage=Stage.TRIAGE,
            to_user=w["other"],
            summary="s",
            customer_impact="c",
            next_steps="",
        ),
        "next_steps",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CALLS), ids=list(BAD_CALLS))
def test_bad_input_names_the_field_and_writes_nothing(world, case):
    call, field = BAD_CALLS[case]
    before = row_counts()
    versions = dict(Incident.objects.values_list("pk", "version"))
    with pytest.raises(ServiceError) as exc:
        call(world)
    assert exc.value.field == field, exc.value.message
    assert exc.value.message
    assert row_counts() == before
    assert dict(Incident.objects.values_list("pk", "version")) == versions


# ---- database constraints: they fire even when a write bypasses the services


def refused(write: Callable[[], object]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        write()


def test_constraint_users_affected_pct_0_to_100(make_incident):
    pk = make_incident().pk
    refused(lambda: Incident.objects.filter(pk=pk).update(users_affected_pct=Decimal(101)))
    refused(lambda: Incident.objects.filter(pk=pk).update(users_affected_pct=Decimal(-1)))


def test_constraint_arr_at_risk_not_negative(make_incident):
    pk = make_incident().pk
    refused(lambda: Incident.objects.filter(pk=pk).update(arr_at_risk=Decimal("-0.01")))


def test_constraint_paused_iff_waiting(make_incident, now):
    pk = make_incident().pk
    refused(lambda: Incident.objects.filter(pk=pk).update(status=Status.WAITING_ON_CUSTOMER))
    refused(lambda: Incident.objects.filter(pk=pk).update(paused_since=now, pause_reason="customer"))
    refused(lambda: Incident.objects.filter(pk=pk).update(status=Status.WAITING_ON_THIRD_PARTY, paused_since=now))
    # Both together are fine.
    Incident.objects.filter(pk=pk).update(status=Status.WAITING_ON_CUSTOMER, paused_since=now, pause_reason="customer")


def test_constraint_resolved_at_only_when_resolved(make_incident, now):
    pk = make_incident().pk
    refused(lambda: Incident.objects.filter(pk=pk).update(resolved_at=now))


def test_constraint_one_open_pause_per_incident(make_incident, agent, now):
    incident = make_incident()
    ClockPause.objects.create(incident=incident, reason="customer", note="a", started_at=now, started_by=agent)
    refused(
        lambda: ClockPause.objects.create(
            incident=incident, reason="customer", note="b", started_at=now, started_by=agent
        )
    )
    refused(
        lambda: ClockPause.objects.create(
            incident=incident, reason="customer", note="", started_at=now, ended_at=now, started_by=agent
        )
    )
    refused(
        lambda: ClockPause.objects.create(
            incident=incident, reason="customer", note="c", started_at=now, ended_at=now - M, started_by=agent
        )
    )
    # Closed pauses are not limited.
    ClockPause.objects.create(
        incident=incident, reason="customer", note="d", started_at=now, ended_at=now, started_by=agent
    )


def test_constraint_one_breach_per_incident_kind_and_cycle(make_incident, now):
    incident = make_incident()
    values = {"incident": incident, "kind": ClockKind.RESOLVE, "severity": "S2", "due_at": now, "detected_at": now}
    Breach.objects.create(cycle=1, **values)
    refused(lambda: Breach.objects.create(cycle=1, **values))
    Breach.objects.create(cycle=2, **values)
    Breach.objects.create(cycle=1, **{**values, "kind": ClockKind.ACK})


def test_constraint_one_pending_handoff_per_incident(make_incident, agent, other_agent, duty_manager, now):
    incident = make_incident()
    values = {
        "incident": incident,
        "from_user": agent,
        "from_stage": Stage.TRIAGE,
        "to_stage": Stage.TRIAGE,
        "offered_at": now,
        "accept_due_at": now + M,
        **PACKET,
    }
    HandoffPacket.objects.create(to_user=other_agent, **values)
    refused(lambda: HandoffPacket.objects.create(to_user=duty_manager, **values))
    HandoffPacket.objects.create(to_user=duty_manager, status=HandoffStatus.CANCELLED, **values)
    refused(lambda: HandoffPacket.objects.create(**values))  # no receiver
    refused(lambda: HandoffPacket.objects.create(to_user=duty_manager, status=HandoffStatus.REJECTED, **values))


def test_constraint_resolve_cycle_number_unique(make_incident, now):
    incident = make_incident()
    refused(lambda: ResolveCycle.objects.create(incident=incident, number=1, started_at=now, target_seconds=1))


# --- one-line fields without bidi controls, long text with a limit --------------------------


def test_titles_lose_bidi_controls_at_every_door(agent, customer, make_incident, now):
    from escalations.services import incident_update
    from tests.integration.api_support import client_for

    made = make_incident(title="Invoice \u202efdp.exe")
    assert made.title == "Invoice fdp.exe"
    edited = incident_update(incident=made, actor=agent, now=now, title="\u2067Renamed\u2069")
    assert edited.title == "Renamed"
    response = client_for(agent).post(
        "/api/v1/incidents/", {"title": "API \u202etitle", "customer": customer.pk, "channel": "email"}, format="json"
    )
    assert response.status_code == 201 and response.json()["title"] == "API title"


def test_a_megabyte_description_is_refused_naming_the_field(agent, customer, make_incident, now, client):
    from escalations.models import Incident
    from escalations.services import RuleViolation
    from tests.integration.api_support import assert_error, client_for

    huge = "x" * 1_000_000
    before = Incident.objects.count()
    with pytest.raises(RuleViolation) as refused:
        make_incident(description=huge)
    assert refused.value.field == "description"
    api = client_for(agent).post(
        "/api/v1/incidents/",
        {"title": "t", "customer": customer.pk, "channel": "email", "description": huge},
        format="json",
    )
    assert_error(api, 400, field="description")
    client.force_login(agent)
    page = client.post(
        "/cases/new/",
        {"title": "t", "customer": customer.pk, "channel": "email", "description": huge, "action": "create"},
    )
    assert page.status_code == 400 and "Ensure this value has at most" in page.content.decode()
    assert Incident.objects.count() == before
