"""Checklist items that stand for a fact of the case tick themselves when the fact becomes
true (with the actor and time of the event) and cannot be ticked by hand before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from escalations.choices import ChecklistFact
from escalations.errors import RuleViolation
from escalations.models import ChecklistItem
from escalations.services import (
    checklist_item_set_done,
    customer_update_post,
    incident_acknowledge,
    incident_update,
)

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)


def item(incident, fact: str) -> ChecklistItem:
    return ChecklistItem.objects.get(checklist__incident=incident, checklist__stage=incident.stage, fact=fact)


def test_acknowledging_and_the_first_update_tick_their_items(make_incident, agent, other_agent, now):
    incident = make_incident(data_risk=True)  # S1: its triage checklist links these facts
    ack, update = item(incident, ChecklistFact.ACKNOWLEDGED), item(incident, ChecklistFact.FIRST_CUSTOMER_UPDATE)
    assert ack.done_at is None and update.done_at is None
    incident_acknowledge(incident=incident, actor=other_agent, now=now + 2 * M)
    customer_update_post(incident=incident, body="On it", channel=None, actor=agent, now=now + 9 * M)
    ack.refresh_from_db()
    update.refresh_from_db()
    assert (ack.done_by, ack.done_at) == (other_agent, now + 2 * M)
    assert (update.done_by, update.done_at) == (agent, now + 9 * M)
    assert incident.events.filter(kind="checklist_item_done", new__fact="acknowledged").exists()


def test_a_fact_item_cannot_be_ticked_by_hand_while_false(make_incident, agent, manager, now):
    incident = make_incident(data_risk=True)
    commander = item(incident, ChecklistFact.COMMANDER_SET)
    with pytest.raises(RuleViolation) as refused:
        checklist_item_set_done(item=commander, done=True, actor=agent, now=now)
    assert refused.value.code == "fact_not_true"
    commander.refresh_from_db()
    assert commander.done_at is None
    incident_update(incident=incident, actor=agent, now=now + M, commander=manager)
    commander.refresh_from_db()
    assert (commander.done_by, commander.done_at) == (agent, now + M)
    with pytest.raises(RuleViolation) as untick:
        checklist_item_set_done(item=commander, done=False, actor=agent, now=now + 2 * M)
    assert untick.value.code == "fact_true"


def test_a_fact_already_true_ticks_the_item_when_the_checklist_is_made(make_incident, agent, manager, now):
    incident = make_incident(data_risk=True, commander=manager, bridge_url="https://meet.example.com/x")
    for fact in (ChecklistFact.COMMANDER_SET, ChecklistFact.BRIDGE_LINKED):
        assert item(incident, fact).done_at == now


def test_the_case_page_refuses_a_hand_tick_of_a_false_fact(client, agent, make_incident):
    incident = make_incident(data_risk=True, stage_dri=agent)
    commander = item(incident, ChecklistFact.COMMANDER_SET)
    client.force_login(agent)
    page = client.get(reverse("escalations:case-detail", args=[incident.pk])).content.decode()
    assert "ticks itself" in page  # the item says so instead of offering a box to tick
    response = client.post(
        reverse("escalations:case-checklist-item", args=[incident.pk, commander.pk]),
        {"done": "on", "version": incident.version},
    )
    assert response.status_code == 302
    assert "ticks itself when it is true" in client.get(response["Location"]).content.decode()
    commander.refresh_from_db()
    assert commander.done_at is None


def test_after_a_severity_change_the_old_severitys_checklists_no_longer_apply(make_incident, agent, manager, now):
    from escalations.models import Checklist
    from escalations.services import incident_change_severity
    from escalations.services.checklists import open_required_items

    incident = make_incident(data_risk=True)  # S1
    incident_acknowledge(incident=incident, actor=agent, now=now + M)
    s1 = set(Checklist.objects.filter(incident=incident, title__startswith="S1").values_list("pk", flat=True))
    assert s1
    incident_change_severity(incident=incident, severity="S3", reason="No data exposed", actor=manager, now=now + 2 * M)
    assert not Checklist.objects.filter(pk__in=s1, applies=True).exists()
    assert ChecklistItem.objects.filter(checklist_id__in=s1, fact=ChecklistFact.ACKNOWLEDGED, done_at__isnull=False)
    assert not [i for i in open_required_items(incident, incident.stage) if i.checklist_id in s1]


def test_an_rca_started_in_the_admin_is_scheduled_and_ticks_its_item(client, make_incident, manager, now, time_machine):
    from datetime import UTC, datetime

    time_machine.move_to(now, tick=False)
    incident = make_incident(data_risk=True)  # S1: its verify checklist asks for an RCA
    rca_item = ChecklistItem.objects.get(checklist__incident=incident, fact=ChecklistFact.RCA_SCHEDULED)
    client.force_login(manager)
    form = {
        "incident": incident.pk,
        "author": manager.pk,
        "status": "draft",
        "summary": "Checkout outage",
        "action_items-TOTAL_FORMS": "0",
        "action_items-INITIAL_FORMS": "0",
    }
    undated = client.post(reverse("admin:escalations_postmortem_add"), form)
    assert undated.status_code == 302, undated.content.decode()[:2000]
    rca = incident.postmortem
    # Started without a date: due five business days after its start, scheduled at once.
    assert rca.due_at == datetime(2026, 11, 28, tzinfo=UTC)
    rca_item.refresh_from_db()
    assert (rca_item.done_by, rca_item.done_at) == (manager, now)
    assert rca.history.latest().history_user == manager
    dated = client.post(
        reverse("admin:escalations_postmortem_change", args=[rca.pk]),
        {**form, "due_at_0": "2026-12-01", "due_at_1": "10:00:00", "action_items-INITIAL_FORMS": "0"},
    )
    assert dated.status_code == 302, dated.content.decode()[:2000]
    rca.refresh_from_db()
    assert rca.due_at == datetime(2026, 12, 1, 10, tzinfo=UTC)  # a date the admin gives is kept
    rca_item.refresh_from_db()
    assert (rca_item.done_by, rca_item.done_at) == (manager, now)
