"""A case's full audit for managers: every field change with who and why, merged with
pauses, customer updates, breaches, escalations and handoffs, read as a person reads it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from escalations.choices import ClockKind, PauseReason
from escalations.models import Breach, Escalation, StaffProfile
from escalations.services import (
    customer_update_post,
    handoff_accept,
    handoff_offer,
    incident_acknowledge,
    incident_change_severity,
    incident_pause,
    incident_resume,
)
from escalations.services.common import audited_create

pytestmark = pytest.mark.django_db
M = timedelta(minutes=1)


def _audit_url(case) -> str:
    return reverse("escalations:manage-case-audit", args=[case.pk])


def _worked_case(make_incident, agent, other_agent, manager, team, system, now):
    case = incident_acknowledge(incident=make_incident(team=team), actor=agent, now=now + M)
    incident_pause(
        incident=case, reason=PauseReason.CUSTOMER, note="Waiting for their logs", actor=agent, now=now + 2 * M
    )
    incident_resume(incident=case, actor=agent, now=now + 3 * M)
    customer_update_post(incident=case, body="We are rolling back.", channel=None, actor=agent, now=now + 4 * M)
    incident_change_severity(
        incident=case, severity="S1", reason="Every EU checkout fails", actor=manager, now=now + 5 * M
    )
    offer = handoff_offer(
        incident=case.pk, actor=agent, now=now + 6 * M, to_stage=case.stage, to_user=other_agent,
        summary="EU checkout down", customer_impact="No orders", next_steps="Roll back 4.2",
    )  # fmt: skip
    handoff_accept(handoff=offer, actor=other_agent, now=now + 7 * M)
    breach = Breach.objects.create(
        incident=case, kind=ClockKind.UPDATE, cycle=1, severity="S1", due_at=now + 8 * M, detected_at=now + 9 * M
    )
    Escalation.objects.create(
        incident=case, level=1, reason="Update breach.", breach=breach, created_at=now + 9 * M, actor=system,
        notified=[{"user": manager.pk, "name": "Mia Manager", "channel": "email"}],
        acknowledged_at=now + 10 * M, acknowledged_by=manager,
    )  # fmt: skip
    return case


@pytest.fixture
def system():
    from escalations.services import system_user

    return system_user()


def test_the_audit_merges_every_change_and_reads_as_a_person_reads_it(
    client, manager, agent, other_agent, team, make_incident, system, now
):
    audited_create(StaffProfile, history_user=manager, user=manager, timezone="America/New_York")
    case = _worked_case(make_incident, agent, other_agent, manager, team, system, now)
    client.force_login(manager)
    response = client.get(_audit_url(case))
    assert response.status_code == 200
    entries = response.context["entries"]
    whats = [e.what for e in entries]
    for expected in (
        "Case opened",
        "Clocks paused: Waiting on customer",
        "Clocks resumed",
        "Handoff accepted",
        "Customer update breach",
        "Escalated to level 1",
        "Level 1 acknowledged",
    ):
        assert expected in whats, (expected, whats)
    assert any(w.startswith("Customer update on") for w in whats)
    assert any(w.startswith("Handoff offered to") for w in whats)
    severity = [e for e in entries if any(label == "Severity" for label, _, _ in e.changes)]
    assert severity, "the severity change is a labelled field change"
    assert ("Severity", "S2", "S1") in severity[0].changes, severity[0].changes
    assert severity[0].actor == manager
    assert ("Severity reason", "—", "Every EU checkout fails") in severity[0].changes, severity[0].changes
    assert [e.at for e in entries] == sorted(e.at for e in entries)

    body = response.content.decode()
    # Labels and the viewer's zone, never column names or ISO timestamps.
    table = body.split('id="case-audit"', 1)[1].split("</table>", 1)[0]
    visible_text = re.sub(r"<[^>]+>", " ", table)
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", visible_text)
    for raw in ("ack_target_seconds", "stage_dri", "acknowledged_by", "severity_source", "None"):
        assert raw not in visible_text, raw
    # 10:01 UTC is 05:01 in New York on 20 November.
    assert "20 Nov 2026 05:01" in visible_text


def test_the_audit_query_count_does_not_grow_with_the_case(
    client, manager, agent, other_agent, team, make_incident, system, now, django_assert_max_num_queries
):
    client.force_login(manager)
    small = incident_acknowledge(incident=make_incident(team=team), actor=agent, now=now)
    with CaptureQueriesContext(connection) as few:
        client.get(_audit_url(small))
    big = _worked_case(make_incident, agent, other_agent, manager, team, system, now)
    for i in range(5):
        incident_pause(
            incident=big, reason=PauseReason.CUSTOMER, note=f"Wait {i}", actor=agent, now=now + (20 + 2 * i) * M
        )
        incident_resume(incident=big, actor=agent, now=now + (21 + 2 * i) * M)
    with django_assert_max_num_queries(len(few) + 4):  # the related-name lookups of the fields it changed
        assert client.get(_audit_url(big)).status_code == 200
    with CaptureQueriesContext(connection) as once:
        client.get(_audit_url(big))
    for i in range(5):
        customer_update_post(incident=big, body=f"Update {i}", channel=None, actor=agent, now=now + (40 + i) * M)
    with django_assert_max_num_queries(len(once)):
        client.get(_audit_url(big))


def test_the_audit_is_for_managers_of_a_case_they_may_see(client, agent, engineer, make_incident, team, now):
    case = make_incident(team=team)
    for user in (agent, engineer):
        client.force_login(user)
        assert client.get(_audit_url(case)).status_code == 404
