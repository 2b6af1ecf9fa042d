"""Roles × views: every workspace view enforces its permission, whatever the navigation
shows. Anonymous people are sent to sign in; signed-in people without the right get 403
and the case is unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from escalations.models import ChecklistItem, HandoffPacket, Incident
from escalations.services import handoff_offer
from tests.conftest import T0
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


VIEW = {"agent", "duty_manager", "engineer", "manager", "policy_admin"}
WORK = {"agent", "duty_manager", "engineer", "manager"}
CREATE = {"agent", "duty_manager", "manager"}


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    time_machine.move_to(T0 + timedelta(minutes=1), tick=False)


@pytest.fixture
def world(personas, other_agent, make_incident):
    # The whole cast's team's case, so this matrix is about roles; which case a role may
    # reach is tests/integration/test_case_access.py's matrix.
    everyone = TeamFactory(name="Everyone", slug="everyone", members=[*personas.values(), other_agent])
    incident = make_incident(stage_dri=other_agent, team=everyone)
    item = ChecklistItem.objects.filter(checklist__incident=incident, fact="").first()
    handoff = handoff_offer(
        incident=incident,
        actor=other_agent,
        now=T0,
        to_stage="triage",
        to_user=personas["agent"],
        summary="s",
        customer_impact="c",
        next_steps="n",
    )
    incident.refresh_from_db()
    return {"incident": incident, "item": item, "handoff": handoff}


def pages(world) -> list[tuple[str, str, set[str]]]:
    pk = world["incident"].pk
    return [
        ("queue", reverse("escalations:queue"), VIEW),
        ("case", reverse("escalations:case-detail", args=[pk]), VIEW),
        ("ack-confirm", reverse("escalations:case-acknowledge", args=[pk]), WORK),
        ("pages", reverse("escalations:pages"), VIEW),
        ("intake", reverse("escalations:case-create"), CREATE),
        ("intake-preview", reverse("escalations:case-create-preview"), CREATE),
        ("shift", reverse("escalations:shift-handoff"), WORK),
        ("shift-case", reverse("escalations:shift-handoff-case", args=[pk]), WORK),
        ("shift-done", reverse("escalations:shift-handoff-done"), WORK),
    ]


def actions(world) -> list[tuple[str, str, dict]]:
    incident = world["incident"]
    pk, v = incident.pk, incident.version
    return [
        ("acknowledge", reverse("escalations:case-acknowledge", args=[pk]), {}),
        ("pause", reverse("escalations:case-pause", args=[pk]), {"version": v, "reason": "customer", "note": "x"}),
        ("resume", reverse("escalations:case-resume", args=[pk]), {"version": v}),
        ("log channel", reverse("escalations:case-log-channel", args=[pk]), {"version": v, "channel": 1}),
        ("resolve", reverse("escalations:case-resolve", args=[pk]), {"version": v, "resolution": "x"}),
        ("reopen", reverse("escalations:case-reopen", args=[pk]), {"version": v, "reason": "x"}),
        ("close", reverse("escalations:case-close", args=[pk]), {"version": v}),
        ("severity", reverse("escalations:case-severity", args=[pk]), {"version": v, "severity": "S1", "reason": "x"}),
        ("stage", reverse("escalations:case-stage", args=[pk]), {"version": v, "stage": "command"}),
        ("update", reverse("escalations:case-update", args=[pk]), {"version": v, "body": "x"}),
        (
            "edit",
            reverse("escalations:case-edit", args=[pk]),
            {
                "version": v,
                "title": "New title",
                "sentiment": "unknown",
                "arr_at_risk": "60000",
                "users_affected_pct": "0",
            },
        ),
        (
            "handoff",
            reverse("escalations:case-handoff", args=[pk]),
            {"version": v, "to_stage": "triage", "summary": "s", "customer_impact": "c", "next_steps": "n"},
        ),
        (
            "checklist",
            reverse("escalations:case-checklist-item", args=[pk, world["item"].pk]),
            {"done": "on", "version": v},
        ),
        ("accept", reverse("escalations:handoff-accept", args=[world["handoff"].pk]), {"version": v}),
        ("reject", reverse("escalations:handoff-reject", args=[world["handoff"].pk]), {"reason": "x", "version": v}),
        ("cancel", reverse("escalations:handoff-cancel", args=[world["handoff"].pk]), {"version": v}),
        (
            "shift-offer",
            reverse("escalations:shift-handoff-case", args=[pk]),
            {"version": v, "to_stage": "triage", "summary": "s", "customer_impact": "c", "next_steps": "n"},
        ),
        ("intake", reverse("escalations:case-create"), {"title": "x", "action": "create"}),
    ]


def test_anonymous_is_sent_to_sign_in_everywhere(client, world):
    for name, url, _ in pages(world):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), name
    for name, url, data in actions(world):
        response = client.post(url, data)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), name
    assert client.get(reverse("escalations:profile")).status_code == 302


def test_pages_by_role(client, personas, world):
    for role, user in personas.items():
        client.force_login(user)
        for name, url, allowed in pages(world):
            status = client.get(url).status_code
            if role in allowed:
                assert status == 200, (role, name, status)
            else:
                assert status == 403, (role, name, status)


@pytest.mark.parametrize("role", ["outsider", "policy_admin"])
def test_people_who_may_not_work_cases_cannot_change_them(client, personas, world, role):
    client.force_login(personas[role])
    before = Incident.objects.get().version
    for name, url, data in actions(world):
        assert client.post(url, data).status_code == 403, name
    assert Incident.objects.get().version == before
    assert Incident.objects.count() == 1
    assert HandoffPacket.objects.get().status == "offered"


@pytest.mark.parametrize("role", sorted(WORK))
def test_people_who_work_cases_get_past_the_permission_check(client, personas, world, role):
    client.force_login(personas[role])
    for name, url, data in actions(world):
        if name == "intake" and role not in CREATE:
            assert client.post(url, data).status_code == 403
            continue
        status = client.post(url, data).status_code
        # Refusals by the rules (400/409, or 403 from a service rule such as "only the
        # receiver may accept") are fine here; this test is about the door.
        assert status in (200, 302, 400, 409) or (status == 403 and name in ("accept", "reject", "cancel")), (
            role,
            name,
            status,
        )


def test_engineer_cannot_take_intake_but_can_work_a_case(client, engineer, world):
    client.force_login(engineer)
    assert client.get(reverse("escalations:case-create")).status_code == 403
    incident = world["incident"]
    response = client.post(
        reverse("escalations:case-update", args=[incident.pk]), {"version": incident.version, "body": "Engineer update"}
    )
    assert response.status_code == 302


def test_unknown_case_is_404(client, agent, playbook):
    client.force_login(agent)
    assert client.get(reverse("escalations:case-detail", args=[999999])).status_code == 404
    assert client.post(reverse("escalations:case-pause", args=[999999]), {"version": 1}).status_code == 404
