"""escalations.security.roles: the five groups and their permissions after migrations, and the
role × action matrix for the services whose rules depend on permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from escalations.choices import Stage
from escalations.security import roles
from escalations.security.roles import ROLE_PERMISSIONS
from escalations.services import (
    NotAllowed,
    RuleViolation,
    handoff_accept,
    handoff_cancel,
    handoff_offer,
    incident_change_severity,
    incident_update,
)

pytestmark = pytest.mark.django_db
PERSONAS = ["agent", "duty_manager", "engineer", "manager", "policy_admin", "outsider"]
PACKET = {"summary": "s", "customer_impact": "c", "next_steps": "n"}


def test_migrations_create_the_six_groups_with_exactly_their_permissions():
    # No playbook fixture: this is the state the migrations leave.
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLE_PERMISSIONS)
    assert len(ROLE_PERMISSIONS) == 6
    for name, codenames in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        have = set(group.permissions.values_list("content_type__app_label", "codename"))
        assert have == {roles.qualified(c) for c in codenames}, name


def test_staff_roles_are_managers_and_policy_admins():
    assert set(roles.STAFF_ROLES) == {roles.MANAGERS, roles.POLICY_ADMINS}


# persona → does it have the permission?
PERMISSION_MATRIX = {
    "add_incident": {"agent", "duty_manager", "manager"},
    "change_incident": {"agent", "duty_manager", "engineer", "manager"},
    "view_incident": {"agent", "duty_manager", "engineer", "manager", "policy_admin"},
    "downgrade_severity": {"manager"},
    "view_all_incidents": {"duty_manager", "manager"},
    "reassign_incident": {"manager"},
    "start_drill": {"duty_manager", "manager"},
    "submit_intake": set(),
    "approve_escalation": {"manager"},
    "view_review": {"duty_manager", "manager"},
    "change_severitypolicy": {"policy_admin"},
    "change_triggerrule": {"policy_admin"},
    "add_soptemplate": {"policy_admin"},
    "change_channel": {"policy_admin"},
    "change_shift": {"duty_manager", "policy_admin"},
    "add_postmortem": {"engineer", "manager"},
    "change_breach": {"manager"},
    "add_customerupdate": {"agent", "duty_manager", "engineer", "manager"},
    "add_handoffpacket": {"agent", "duty_manager", "engineer", "manager"},
    "view_historicalincident": {"manager"},
    "delete_incident": set(),
}


@pytest.mark.parametrize("codename", list(PERMISSION_MATRIX))
def test_permission_matrix(personas, codename):
    have = {name for name, user in personas.items() if user.has_perm(f"escalations.{codename}")}
    assert have == PERMISSION_MATRIX[codename]


# ---- services whose rules depend on permissions


@pytest.mark.parametrize("persona", ["agent", "duty_manager", "engineer", "manager"])
def test_downgrade_below_the_triggers_needs_downgrade_severity(personas, make_incident, now, persona):
    incident = make_incident()  # S2 by trigger
    user = personas[persona]
    if persona == "manager":
        assert (
            incident_change_severity(incident=incident, severity="S3", reason="r", actor=user, now=now).severity == "S3"
        )
    else:
        with pytest.raises(NotAllowed):
            incident_change_severity(incident=incident, severity="S3", reason="r", actor=user, now=now)


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_people_who_work_cases_can_own_one(personas, make_incident, agent, now, persona):
    incident = make_incident()
    user = personas[persona]
    works_cases = persona in {"agent", "duty_manager", "engineer", "manager"}
    for field in ("stage_dri", "commander"):
        if works_cases:
            assert getattr(incident_update(incident=incident, actor=agent, now=now, **{field: user}), field) == user
        else:
            with pytest.raises(RuleViolation) as exc:
                incident_update(incident=incident, actor=agent, now=now, **{field: user})
            assert exc.value.field == field


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_people_who_work_cases_can_receive_a_handoff(personas, make_incident, other_agent, now, persona):
    incident = make_incident()
    user = personas[persona]
    if persona in {"agent", "duty_manager", "engineer", "manager"}:
        handoff = handoff_offer(
            incident=incident, actor=other_agent, now=now, to_stage=Stage.TRIAGE, to_user=user, **PACKET
        )
        assert handoff_accept(handoff=handoff, actor=user, now=now).status == "accepted"
    else:
        with pytest.raises(RuleViolation) as exc:
            handoff_offer(incident=incident, actor=other_agent, now=now, to_stage=Stage.TRIAGE, to_user=user, **PACKET)
        assert exc.value.field == "to_user"


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_the_receiver_answers_and_the_sender_or_a_manager_withdraws(
    personas, make_incident, other_agent, now, persona
):
    incident = make_incident()
    handoff = handoff_offer(
        incident=incident, actor=other_agent, now=now, to_stage=Stage.TRIAGE, to_user=personas["engineer"], **PACKET
    )
    user = personas[persona]
    if persona == "engineer":
        assert handoff_accept(handoff=handoff, actor=user, now=now).status == "accepted"
        return
    with pytest.raises(NotAllowed):
        handoff_accept(handoff=handoff, actor=user, now=now)
    if persona == "manager":
        assert handoff_cancel(handoff=handoff, actor=user, now=now).status == "cancelled"
    else:
        with pytest.raises(NotAllowed):
            handoff_cancel(handoff=handoff, actor=user, now=now)
