"""Chain leftovers of the governed climb: only a person the rung paged in the app, who
may open cases, answers it from the inbox; and the data migration that carries the old
rule's acknowledgements over, so acknowledged cases do not start climbing on deploy."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps

from escalations.choices import ChainTarget, NotificationChannel
from escalations.models import Escalation, EscalationStep, Notification
from escalations.services import incident_acknowledge
from escalations.services.common import system_user
from escalations.services.engine.chain import pages_acknowledge
from escalations.services.engine.sweep import sweep_run
from tests.engine_support import oncall_fixture  # noqa: F401
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)
migration = importlib.import_module("escalations.migrations.0023_valves_roles_and_rungs")


def _first_rung(incident):
    return Escalation.objects.get(incident=incident, level=1)


def test_a_rung_paged_by_email_only_is_not_answered_from_the_inbox(make_incident, team, oncall, now):
    EscalationStep.objects.filter(policy__key="S1", level=1).update(channels="email")
    incident = make_incident(team=team, data_risk=True)  # S1: acknowledge within 5 min
    sweep_run(now=now + 5 * M, source="test")
    rung = _first_rung(incident)
    email = Notification.objects.get(escalation=rung, recipient=oncall["dm"])
    assert email.channel == NotificationChannel.EMAIL
    assert not Notification.objects.filter(escalation=rung, channel=NotificationChannel.IN_APP).exists()

    for page in (email.pk, None):
        answered = pages_acknowledge(user=oncall["dm"], now=now + 6 * M, page=page)
        assert answered.acknowledged == 0 and answered.stopped == []
    rung.refresh_from_db()
    incident.refresh_from_db()
    assert rung.acknowledged_at is None and incident.next_escalation_at == now + 10 * M
    assert sweep_run(now=now + 10 * M, source="test").escalations == 1  # its wait still runs


def test_a_page_to_someone_without_a_case_role_answers_nothing(make_incident, team, oncall, now):
    outside = UserFactory(username="no_role")  # an account that cannot open cases
    EscalationStep.objects.filter(policy__key="S1", level=1).update(
        target=ChainTarget.USER, user=outside, channels="in_app"
    )
    incident = make_incident(team=team, data_risk=True)
    sweep_run(now=now + 5 * M, source="test")
    page = Notification.objects.get(escalation=_first_rung(incident), recipient=outside)
    answered = pages_acknowledge(user=outside, now=now + 6 * M, page=page.pk)
    assert (answered.read, answered.acknowledged) == (1, 0)
    assert _first_rung(incident).acknowledged_at is None
    incident.refresh_from_db()
    assert incident.next_escalation_at == now + 10 * M


def test_the_same_page_in_the_app_answers_the_rung(make_incident, team, oncall, now):
    incident = make_incident(team=team, data_risk=True)
    sweep_run(now=now + 5 * M, source="test")
    page = Notification.objects.get(
        escalation=_first_rung(incident), recipient=oncall["dm"], channel=NotificationChannel.IN_APP
    )
    assert pages_acknowledge(user=oncall["dm"], now=now + 6 * M, page=page.pk).acknowledged == 1


def test_the_migration_marks_the_current_rung_of_acknowledged_cases(make_incident, team, oncall, agent, now):
    # Acknowledged at +1, then the first update is late at +60: rung 1 is raised after
    # the acknowledgement, with its wait running — what the old rule left behind.
    acked = make_incident(team=team)  # S2
    incident_acknowledge(incident=acked, actor=agent, now=now + M)
    waiting = make_incident(team=team, title="Nobody acknowledged this one")
    sweep_run(now=now + 60 * M, source="test")
    acked.refresh_from_db()
    assert acked.escalation_level == 1 and acked.next_escalation_at is not None
    untouched = _first_rung(waiting)
    assert untouched.acknowledged_at is None

    migration.forwards(apps, None)

    rung = _first_rung(acked)
    assert (rung.acknowledged_by, rung.acknowledged_at) == (agent, rung.created_at)  # raised after the ack
    latest = rung.history.latest()
    assert latest.history_user == system_user() and latest.history_change_reason == migration.REASON
    acked.refresh_from_db()
    assert acked.next_escalation_at is None
    assert acked.history.latest().history_user == system_user()
    assert _first_rung(waiting).acknowledged_at is None  # not acknowledged: its wait runs
    # After the deploy the acknowledged case stays on its rung; the other climbs.
    result = sweep_run(now=now + 90 * M, source="test")
    assert result.escalations == 1
    assert list(Escalation.objects.filter(incident=acked).values_list("level", flat=True)) == [1]
    rows = rung.history.count()
    migration.forwards(apps, None)  # a second run finds nothing to do
    assert rung.history.count() == rows
