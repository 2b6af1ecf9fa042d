"""escalations.services.handoffs: the standard packet, explicit accept/reject, the
sender staying DRI until acceptance, one pending offer, and ping-pong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escalations.choices import EventKind, HandoffStatus, Stage
from escalations.models import ChecklistItem, HandoffPacket, Incident
from escalations.services import (
    InvalidTransition,
    NotAllowed,
    RuleViolation,
    checklist_item_set_done,
    handoff_accept,
    handoff_cancel,
    handoff_offer,
    handoff_reject,
    incident_acknowledge,
    incident_resolve,
)
from tests.checklists_support import complete_checklist
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db
M = timedelta(minutes=1)
PACKET = {"summary": "Checkout 500s for EU", "customer_impact": "No orders since 09:40", "next_steps": "Roll back 4.2"}


@pytest.fixture
def case(make_incident, agent, team, now) -> Incident:
    """An S2 owned (stage DRI) by the agent, in the agent's team."""
    return incident_acknowledge(incident=make_incident(team=team), actor=agent, now=now)


def offer(case: Incident, actor, now, **kwargs) -> HandoffPacket:
    values = {"incident": case.pk, "actor": actor, "now": now, "to_stage": case.stage, **PACKET}
    values.update(kwargs)
    return handoff_offer(**values)


def fresh(incident: Incident) -> Incident:
    return Incident.objects.get(pk=incident.pk)


def tick_stage(incident: Incident, actor, now) -> None:
    complete_checklist(incident, actor, now, stage=incident.stage)


def test_offer_keeps_the_sender_dri_until_accepted(case, agent, other_agent, now):
    handoff = offer(case, agent, now + M, to_user=other_agent, hypothesis="Bad deploy")
    assert handoff.status == HandoffStatus.OFFERED
    assert handoff.accept_due_at == now + M + 15 * M  # S2 acceptance time box
    assert (handoff.from_user, handoff.from_stage, handoff.hypothesis) == (agent, Stage.TRIAGE, "Bad deploy")
    assert handoff.checklist_state[0] == {
        "item": "Acknowledge the page",
        "stage": "triage",
        "required": True,
        "done": True,  # the case was acknowledged: the item ticked itself
    }
    assert fresh(case).stage_dri == agent
    assert fresh(case).events.get(kind=EventKind.HANDOFF_OFFERED).new["to"] == str(other_agent)

    handoff = handoff_accept(handoff=handoff, actor=other_agent, now=now + 5 * M)
    assert (handoff.status, handoff.responded_by, handoff.responded_at) == ("accepted", other_agent, now + 5 * M)
    incident = fresh(case)
    assert incident.stage_dri == other_agent
    assert incident.events.filter(kind=EventKind.HANDOFF_ACCEPTED).exists()


def test_accept_into_the_next_stage_moves_the_stage_and_names_the_commander(case, agent, duty_manager, now):
    with pytest.raises(RuleViolation) as exc:
        offer(case, agent, now, to_user=duty_manager, to_stage=Stage.COMMAND)
    assert exc.value.field == "checklist"
    tick_stage(case, agent, now)
    handoff = offer(case, agent, now, to_user=duty_manager, to_stage=Stage.COMMAND)
    handoff_accept(handoff=handoff, actor=duty_manager, now=now + M)
    incident = fresh(case)
    assert (incident.stage, incident.stage_dri, incident.commander) == (Stage.COMMAND, duty_manager, duty_manager)


def test_accept_rechecks_the_exit_criteria(case, agent, duty_manager, now):
    tick_stage(case, agent, now)
    handoff = offer(case, agent, now, to_user=duty_manager, to_stage=Stage.COMMAND)
    item = ChecklistItem.objects.filter(
        checklist__incident=case, checklist__stage=Stage.TRIAGE, required=True, fact=""
    ).first()
    checklist_item_set_done(item=item, done=False, actor=agent, now=now + M)
    with pytest.raises(RuleViolation) as exc:
        handoff_accept(handoff=handoff, actor=duty_manager, now=now + 2 * M)
    assert exc.value.field == "checklist"
    assert HandoffPacket.objects.get(pk=handoff.pk).status == HandoffStatus.OFFERED
    assert fresh(case).stage == Stage.TRIAGE


def test_only_the_receiver_may_answer(case, agent, other_agent, duty_manager, manager, now):
    handoff = offer(case, agent, now, to_user=other_agent)
    for stranger in (agent, duty_manager, manager):
        with pytest.raises(NotAllowed):
            handoff_accept(handoff=handoff, actor=stranger, now=now)
        with pytest.raises(NotAllowed):
            handoff_reject(handoff=handoff, reason="not mine", actor=stranger, now=now)
    assert HandoffPacket.objects.get(pk=handoff.pk).status == HandoffStatus.OFFERED


def test_team_offer_is_answered_by_a_member(make_incident, agent, other_agent, duty_manager, team, now):
    night = TeamFactory(name="Night shift", slug="night", members=[duty_manager])
    case = make_incident(team=team)
    handoff = offer(case, agent, now, to_team=night)
    with pytest.raises(NotAllowed):
        handoff_accept(handoff=handoff, actor=other_agent, now=now)
    handoff_accept(handoff=handoff, actor=duty_manager, now=now + M)
    incident = fresh(case)
    assert (incident.team, incident.stage_dri) == (night, duty_manager)


def test_reject_needs_a_reason_and_keeps_the_sender(case, agent, other_agent, now):
    handoff = offer(case, agent, now, to_user=other_agent)
    with pytest.raises(RuleViolation) as exc:
        handoff_reject(handoff=handoff, reason="  ", actor=other_agent, now=now)
    assert exc.value.field == "reason"
    handoff = handoff_reject(handoff=handoff, reason="Off shift in 5 minutes", actor=other_agent, now=now + M)
    assert (handoff.status, handoff.rejection_reason) == (HandoffStatus.REJECTED, "Off shift in 5 minutes")
    assert fresh(case).stage_dri == agent
    with pytest.raises(InvalidTransition):
        handoff_accept(handoff=handoff, actor=other_agent, now=now + 2 * M)


def test_one_pending_offer_per_case(case, agent, other_agent, duty_manager, now):
    offer(case, agent, now, to_user=other_agent)
    with pytest.raises(RuleViolation) as exc:
        offer(case, agent, now, to_user=duty_manager)
    assert exc.value.code == "handoff_pending"
    assert HandoffPacket.objects.filter(incident=case).count() == 1


def test_cancel_by_sender_or_manager_only(case, agent, other_agent, manager, now):
    handoff = offer(case, agent, now, to_user=other_agent)
    with pytest.raises(NotAllowed):
        handoff_cancel(handoff=handoff, actor=other_agent, now=now)
    assert handoff_cancel(handoff=handoff, actor=agent, now=now).status == HandoffStatus.CANCELLED
    handoff = offer(case, agent, now, to_user=other_agent)  # the slot is free again
    assert handoff_cancel(handoff=handoff, actor=manager, now=now).status == HandoffStatus.CANCELLED


def test_ping_pong_to_a_person_needs_a_reason_and_is_recorded(case, agent, other_agent, now):
    handoff_accept(handoff=offer(case, agent, now, to_user=other_agent), actor=other_agent, now=now + M)
    with pytest.raises(RuleViolation) as exc:
        offer(case, other_agent, now + 2 * M, to_user=agent)
    assert (exc.value.field, exc.value.code) == ("ping_pong_reason", "ping_pong")
    back = offer(case, other_agent, now + 2 * M, to_user=agent, ping_pong_reason="Needs Alice's billing access")
    assert back.is_ping_pong is True
    assert back.ping_pong_reason == "Needs Alice's billing access"
    event = fresh(case).events.get(kind=EventKind.PING_PONG)
    assert (event.actor, event.detail) == (other_agent, "Needs Alice's billing access")


def test_ping_pong_to_a_team(make_incident, agent, duty_manager, team, now):
    night = TeamFactory(name="Night shift", slug="night", members=[duty_manager])
    case = make_incident(team=team)
    handoff_accept(handoff=offer(case, agent, now, to_team=night), actor=duty_manager, now=now + M)
    with pytest.raises(RuleViolation) as exc:
        offer(case, duty_manager, now + 2 * M, to_team=team)
    assert exc.value.code == "ping_pong"
    assert offer(case, duty_manager, now + 2 * M, to_team=team, ping_pong_reason="EU morning").is_ping_pong


def test_forward_handoff_is_not_ping_pong(case, agent, other_agent, duty_manager, now):
    handoff_accept(handoff=offer(case, agent, now, to_user=other_agent), actor=other_agent, now=now + M)
    onward = offer(case, other_agent, now + 2 * M, to_user=duty_manager)
    assert onward.is_ping_pong is False
    assert not fresh(case).events.filter(kind=EventKind.PING_PONG).exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"summary": ""}, "summary"),
        ({"customer_impact": " "}, "customer_impact"),
        ({"next_steps": ""}, "next_steps"),
        ({"mood": "tired"}, "mood"),
        ({"to_stage": "limbo"}, "to_stage"),
    ],
)
def test_offer_validates_the_packet(case, agent, other_agent, now, kwargs, field):
    with pytest.raises(RuleViolation) as exc:
        offer(case, agent, now, to_user=other_agent, **kwargs)
    assert exc.value.field == field


def test_offer_validates_the_receiver(case, agent, outsider, policy_admin, duty_manager, team, now):
    with pytest.raises(RuleViolation) as exc:
        offer(case, agent, now)
    assert exc.value.field == "to_user"
    for receiver in (agent, outsider, policy_admin):  # yourself; people who cannot work cases
        with pytest.raises(RuleViolation) as exc:
            offer(case, agent, now, to_user=receiver)
        assert exc.value.field == "to_user"
    with pytest.raises(RuleViolation) as exc:
        offer(case, agent, now, to_user=duty_manager, to_team=team)  # not a member
    assert exc.value.field == "to_user"
    assert not HandoffPacket.objects.exists()


def test_resolved_case_cannot_be_handed_off(make_incident, agent, other_agent, now):
    case = make_incident(arr_at_risk=0)  # S3: no checklists
    incident_resolve(incident=case, resolution="Done", actor=agent, now=now)
    with pytest.raises(InvalidTransition):
        offer(fresh(case), agent, now, to_user=other_agent)


# ---- who may hand off, and when an offer may still be answered


def test_only_the_owner_commander_or_a_manager_hands_off(case, agent, other_agent, duty_manager, manager, now):
    with pytest.raises(NotAllowed) as exc:
        offer(case, other_agent, now, to_user=duty_manager)
    assert (exc.value.field, exc.value.code) == ("handoff", "not_owner")
    assert not HandoffPacket.objects.filter(incident=case).exists()
    assert offer(case, manager, now, to_user=duty_manager).from_user == manager


def test_a_stage_cannot_be_skipped_by_a_handoff(case, agent, duty_manager, now):
    tick_stage(case, agent, now)
    with pytest.raises(RuleViolation) as exc:
        offer(case, agent, now, to_user=duty_manager, to_stage=Stage.FIX)
    assert (exc.value.field, exc.value.code) == ("to_stage", "stage_skipped")


def test_resolving_withdraws_pending_offers_and_nobody_can_accept_them(case, agent, other_agent, now):
    handoff = offer(case, agent, now, to_user=other_agent)
    tick_stage(case, agent, now)
    incident_resolve(incident=case, resolution="Rolled back", actor=agent, now=now + M)
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        handoff_accept(handoff=handoff, actor=other_agent, now=now + 2 * M)
    assert fresh(case).stage_dri == agent


def test_the_sender_cannot_accept_their_own_team_offer(case, agent, team, now):
    handoff = offer(case, agent, now, to_team=team)
    with pytest.raises(NotAllowed):
        handoff_accept(handoff=handoff, actor=agent, now=now + M)


def test_a_team_offer_accepted_by_the_person_it_just_left_is_ping_pong(case, agent, other_agent, duty_manager, now):
    elsewhere = TeamFactory(name="Support Americas", slug="support-americas", members=[agent, duty_manager])
    handoff_accept(handoff=offer(case, agent, now, to_user=other_agent), actor=other_agent, now=now + M)
    handoff = offer(case, other_agent, now + 2 * M, to_team=elsewhere)
    assert not handoff.is_ping_pong  # a team is not the person it left
    handoff_accept(handoff=handoff, actor=agent, now=now + 3 * M)
    handoff.refresh_from_db()
    assert handoff.is_ping_pong
    assert case.events.filter(kind=EventKind.PING_PONG).count() == 1
