"""The paging inbox: unread pages say "New"; "Mark all read" marks the signed-in
person's in-app pages read (and nobody else's), with history naming them."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from escalations.choices import NotificationChannel
from escalations.models import Notification

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
