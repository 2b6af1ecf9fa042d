"""Audit: every change through the services records a CaseEvent with its actor, and
every history row it writes (django-simple-history) carries that actor as
history_user — whatever the door. Automatic work is done by the system user."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.apps import apps

from escalations.choices import PauseReason, Stage
from escalations.models import CaseEvent, ChecklistItem, Incident, Postmortem
from escalations.services import (
    checklist_item_set_done,
    customer_update_post,
    handoff_accept,
    handoff_cancel,
    handoff_offer,
    handoff_reject,
    incident_acknowledge,
    incident_change_severity,
    incident_close,
    incident_pause,
    incident_reopen,
    incident_resolve,
    incident_resume,
    incident_set_stage,
    incident_update,
    system_user,
)
from escalations.services.playbook import playbook_load
from tests.checklists_support import complete_checklist

pytestmark = pytest.mark.django_db
M = timedelta(minutes=1)
H = timedelta(hours=1)
PACKET = {"summary": "s", "customer_impact": "c", "next_steps": "n"}


def history_models() -> list:
    """The Historical* models that record a user (the m2m through-history rows do not)."""
    return [
        m
        for m in apps.get_app_config("escalations").get_models()
        if m.__name__.startswith("Historical") and any(f.name == "history_user" for f in m._meta.fields)
    ]


def high_water() -> dict:
    return {
        m: (m.objects.order_by("-history_id").values_list("history_id", flat=True).first() or 0)
        for m in history_models()
    }


def audited(action: Callable[[], object], actor) -> object:
    """Run ``action``; assert it wrote history, every new history row names ``actor``,
    and every new CaseEvent has ``actor`` (at least one event)."""
    marks = high_water()
    last_event = CaseEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    result = action()
    users = set()
    for model, mark in marks.items():
        users |= {
            (model.__name__, user_id)
            for user_id in model.objects.filter(history_id__gt=mark).values_list("history_user_id", flat=True)
        }
    assert users, "the change wrote no history"
    assert {user_id for _, user_id in users} == {actor.pk}, users
    assert any(name == "HistoricalIncident" for name, _ in users) or any(
        name == "HistoricalHandoffPacket" for name, _ in users
    )
    events = list(CaseEvent.objects.filter(id__gt=last_event).values_list("actor_id", flat=True))
    assert events and set(events) == {actor.pk}
    return result


def test_every_service_records_its_actor(make_incident, agent, other_agent, duty_manager, engineer, manager, now):
    incident = audited(lambda: make_incident(actor=agent), agent)
    pk = incident.pk
    audited(lambda: incident_acknowledge(incident=pk, actor=other_agent, now=now + M), other_agent)
    audited(lambda: incident_update(incident=pk, actor=manager, now=now, title="Checkout down"), manager)
    audited(
        lambda: incident_pause(incident=pk, reason=PauseReason.CUSTOMER, note="logs", actor=duty_manager, now=now + M),
        duty_manager,
    )
    audited(lambda: incident_resume(incident=pk, actor=agent, now=now + 2 * M), agent)
    audited(lambda: customer_update_post(incident=pk, body="On it", channel=None, actor=engineer, now=now), engineer)
    item = ChecklistItem.objects.filter(checklist__incident_id=pk, fact="").first()
    audited(lambda: checklist_item_set_done(item=item, done=True, actor=other_agent, now=now), other_agent)
    audited(
        lambda: incident_change_severity(incident=pk, severity="S1", reason="Spreading", actor=manager, now=now),
        manager,
    )
    handoff = audited(
        # other_agent acknowledged, so owns the stage: only the owner hands off.
        lambda: handoff_offer(
            incident=pk, actor=other_agent, now=now, to_stage=Stage.TRIAGE, to_user=engineer, **PACKET
        ),
        other_agent,
    )
    audited(lambda: handoff_reject(handoff=handoff, reason="Busy", actor=engineer, now=now), engineer)
    handoff = handoff_offer(incident=pk, actor=other_agent, now=now, to_stage=Stage.TRIAGE, to_user=engineer, **PACKET)
    audited(lambda: handoff_cancel(handoff=handoff, actor=manager, now=now), manager)
    handoff = handoff_offer(
        incident=pk, actor=other_agent, now=now, to_stage=Stage.TRIAGE, to_user=duty_manager, **PACKET
    )
    audited(lambda: handoff_accept(handoff=handoff, actor=duty_manager, now=now), duty_manager)

    audited(
        lambda: incident_update(
            incident=pk, actor=duty_manager, now=now, commander=duty_manager, bridge_url="https://meet.example.com/a"
        ),
        duty_manager,
    )
    complete_checklist(Incident.objects.get(pk=pk), duty_manager, now, stage=Stage.TRIAGE)
    audited(lambda: incident_set_stage(incident=pk, stage=Stage.COMMAND, actor=duty_manager, now=now), duty_manager)
    complete_checklist(Incident.objects.get(pk=pk), duty_manager, now, stage=Stage.COMMAND)
    audited(lambda: incident_resolve(incident=pk, resolution="Fixed", actor=engineer, now=now + 30 * M), engineer)
    # Resolving opened the RCA its policy requires, recorded as the resolver's change.
    assert Postmortem.objects.get(incident_id=pk).history.get().history_user == engineer
    audited(lambda: incident_close(incident=pk, actor=manager, now=now + H), manager)
    audited(lambda: incident_reopen(incident=pk, reason="Back", actor=other_agent, now=now + 2 * H), other_agent)
    assert Incident.objects.get(pk=pk).history.count() >= 15


def test_history_rows_carry_before_and_after(make_incident, agent, other_agent, now):
    incident = make_incident()
    incident_acknowledge(incident=incident, actor=other_agent, now=now)
    first, second = incident.history.order_by("history_date", "history_id")[:2]
    assert (first.history_type, first.status, first.history_user) == ("+", "new", agent)
    assert (second.history_type, second.status, second.history_user) == ("~", "acknowledged", other_agent)
    delta = second.diff_against(first)
    assert {"status", "acknowledged_at", "stage_dri", "version"} <= set(delta.changed_fields)


def test_playbook_load_is_done_by_the_system_user(db):
    marks = high_water()
    created = playbook_load()
    assert created["policies"] == 4
    users = set()
    for model, mark in marks.items():
        users |= set(model.objects.filter(history_id__gt=mark).values_list("history_user_id", flat=True))
    assert users == {system_user().pk}
    assert not system_user().is_active  # nobody can log in as the system
    # Idempotent: a second load creates nothing and writes no history.
    marks = high_water()
    assert set(playbook_load().values()) == {0}
    assert high_water() == marks
