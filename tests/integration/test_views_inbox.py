"""The paging inbox: unread pages say "New"; "Mark all read" marks the signed-in
person's in-app pages read (and nobody else's), with history naming them; answering an
escalation's page — "Acknowledge" on it, or "Mark all read" — acknowledges its rung, so
the chain stops climbing on its timer (escalations.services.engine.chain)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from escalations.choices import EventKind, NotificationChannel
from escalations.models import CaseEvent, Escalation, Incident, Notification
from escalations.services import incident_acknowledge
from escalations.services.engine.sweep import sweep_run
from tests.engine_support import oncall_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

PAGES = "/pages/"
MARK = "/pages/read/"


def page_for(user, incident, key: str, channel=NotificationChannel.IN_APP) -> Notification:
    return Notification.objects.create(
        incident=incident,
        channel=channel,
        recipient=user,
        subject=f"[S2] {incident.reference} paged",
        idempotency_key=key,
        created_at=incident.created_at,
    )


def test_urls():
    assert reverse("escalations:pages") == PAGES and reverse("escalations:pages-mark-read") == MARK


def test_mark_all_read_marks_only_my_in_app_pages(client, agent, other_agent, make_incident):
    incident = make_incident()
    mine = [page_for(agent, incident, "a1"), page_for(agent, incident, "a2")]
    email = page_for(agent, incident, "a3", channel=NotificationChannel.EMAIL)
    theirs = page_for(other_agent, incident, "b1")
    client.force_login(agent)
    assert client.get(PAGES).content.decode().count("● New") == 2
    response = client.post(MARK, follow=True)
    assert "2 page(s) marked read." in response.content.decode()
    assert "● New" not in response.content.decode()
    for row in mine:
        row.refresh_from_db()
        assert row.read_at is not None and row.history.latest().history_user == agent
    email.refresh_from_db()
    theirs.refresh_from_db()
    assert email.read_at is None and theirs.read_at is None
    assert "Nothing unread." in client.post(MARK, follow=True).content.decode()


def test_mark_all_read_needs_post_sign_in_a_role_and_csrf(client, agent, outsider, make_incident):
    incident = make_incident()
    page = page_for(agent, incident, "a1")
    assert client.post(MARK).status_code == 302  # to sign-in
    client.force_login(outsider)
    assert client.post(MARK).status_code == 403
    client.force_login(agent)
    assert client.get(MARK).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(agent)
    assert strict.post(MARK).status_code == 403
    page.refresh_from_db()
    assert page.read_at is None


def test_inbox_rows_stop_being_new_once_acknowledged_and_drills_stand_apart(
    client, agent, team, duty_manager, make_incident, now
):
    from escalations.services import incident_acknowledge
    from tests.engine_support import roster

    roster(now=now, team=team, duty_manager=duty_manager)
    real = make_incident(team=team, title="Real outage")
    drill = make_incident(team=team, title="Practice outage", is_drill=True, actor=duty_manager)
    client.force_login(duty_manager)
    body = client.get(reverse("escalations:pages")).content.decode()
    table = body.split('id="pages"')[1].split("</table>")[0]
    assert real.reference in table and drill.reference not in table and "● New" in table
    assert drill.reference in body.split('id="drill-pages"')[1]
    incident_acknowledge(incident=real, actor=duty_manager, now=now)
    table = client.get(reverse("escalations:pages")).content.decode().split('id="pages"')[1].split("</table>")[0]
    assert "● New" not in table and "acknowledged by" in table


M = timedelta(minutes=1)


def _escalated(make_incident, team, agent, now) -> Incident:
    """An acknowledged S2 case whose first customer update is late: level 1 (the Duty
    Manager) paged, level 2 due 30 minutes later if nobody answers."""
    incident = make_incident(team=team)
    incident_acknowledge(incident=incident, actor=agent, now=now + M)
    assert sweep_run(now=now + 60 * M, source="test").escalations == 1
    incident.refresh_from_db()
    assert incident.next_escalation_at == incident.next_check_at == now + 90 * M
    return incident


def _my_page(incident, user, level=1) -> Notification:
    return Notification.objects.get(
        incident=incident, recipient=user, channel=NotificationChannel.IN_APP, escalation__level=level
    )


def test_acknowledging_an_escalation_page_answers_its_rung(client, make_incident, team, oncall, agent, now):
    dm = oncall["dm"]
    incident = _escalated(make_incident, team, agent, now)
    version = incident.version
    page = _my_page(incident, dm)
    client.force_login(dm)
    body = client.get(PAGES).content.decode()
    assert f'action="/pages/{page.pk}/acknowledge/"' in body and "✔ Acknowledge level 1" in body

    response = client.post(f"/pages/{page.pk}/acknowledge/", follow=True)
    text = response.content.decode()
    assert f"Escalation acknowledged. The escalation chain of {incident.reference} stops climbing." in text
    assert "✔ level 1 acknowledged by" in text and "✔ Acknowledge level 1" not in text
    rung = Escalation.objects.get(incident=incident)
    assert rung.acknowledged_by == dm and rung.history.latest().history_user == dm
    page.refresh_from_db()
    assert page.read_at is not None
    incident.refresh_from_db()
    # The wait stopped; nothing else is due until the resolve warning, and nobody's open
    # form went stale.
    assert incident.next_escalation_at is None and incident.next_check_at == incident.resolve_warn_at
    assert incident.version == version and incident.history.latest().history_user == dm
    event = CaseEvent.objects.get(incident=incident, kind=EventKind.ESCALATION_ACKNOWLEDGED)
    assert event.actor == dm and event.detail.startswith("Level 1 acknowledged from the paging inbox")
    assert sweep_run(now=now + 200 * M, source="test").escalations == 0

    # Again: nothing more to answer.
    assert "Marked read." in client.post(f"/pages/{page.pk}/acknowledge/", follow=True).content.decode()
    assert CaseEvent.objects.filter(kind=EventKind.ESCALATION_ACKNOWLEDGED).count() == 1


def test_mark_all_read_acknowledges_the_escalations_it_marks(client, make_incident, team, oncall, agent, now):
    incident = _escalated(make_incident, team, agent, now)
    client.force_login(oncall["dm"])
    text = client.post(MARK, follow=True).content.decode()
    assert "page(s) marked read. 1 escalation(s) acknowledged." in text
    incident.refresh_from_db()
    assert incident.next_escalation_at is None
    assert Escalation.objects.get(incident=incident).acknowledged_by == oncall["dm"]
    event = CaseEvent.objects.get(incident=incident, kind=EventKind.ESCALATION_ACKNOWLEDGED)
    assert event.detail.startswith("Level 1 acknowledged by marking its page read")


def test_only_my_own_in_app_pages_can_be_acknowledged(client, make_incident, team, oncall, agent, outsider, now):
    incident = _escalated(make_incident, team, agent, now)
    page = _my_page(incident, oncall["dm"])
    email = Notification.objects.get(escalation=page.escalation, recipient=oncall["dm"], channel="email")
    url = f"/pages/{page.pk}/acknowledge/"
    assert reverse("escalations:page-acknowledge", args=[page.pk]) == url
    assert client.post(url).status_code == 302  # to sign-in
    client.force_login(outsider)
    assert client.post(url).status_code == 403
    client.force_login(agent)  # not paged for it
    assert client.post(url).status_code == 404
    client.force_login(oncall["dm"])
    assert client.post(f"/pages/{email.pk}/acknowledge/").status_code == 404
    assert client.get(url).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(oncall["dm"])
    assert strict.post(url).status_code == 403
    incident.refresh_from_db()
    assert incident.next_escalation_at == now + 90 * M
    assert Escalation.objects.get(incident=incident).acknowledged_at is None


def test_an_earlier_rung_answered_after_the_climb_leaves_the_current_wait_running(
    client, make_incident, team, oncall, now
):
    incident = make_incident(team=team, data_risk=True)  # S1, unacknowledged
    sweep_run(now=now + 5 * M, source="test")  # level 1: the Duty Manager
    sweep_run(now=now + 10 * M, source="test")  # not answered in 5 minutes: level 2, the commander
    client.force_login(oncall["dm"])
    assert client.post(f"/pages/{_my_page(incident, oncall['dm']).pk}/acknowledge/").status_code == 302
    first, second = Escalation.objects.filter(incident=incident).order_by("level")
    assert first.acknowledged_by == oncall["dm"] and second.acknowledged_at is None
    incident.refresh_from_db()
    assert incident.next_escalation_at == now + 20 * M  # the commander's rung still waits
    client.force_login(oncall["commander"])
    client.post(f"/pages/{_my_page(incident, oncall['commander'], level=2).pk}/acknowledge/")
    incident.refresh_from_db()
    assert incident.escalation_level == 2 and incident.next_escalation_at is None
