"""User text is escaped wherever it is shown: titles, updates, packets, SOP plays,
pause notes, rejection reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from escalations.choices import NotificationChannel
from escalations.models import Notification, SOPTemplate
from escalations.services import customer_update_post, handoff_offer, incident_acknowledge, incident_pause
from tests.conftest import T0

pytestmark = pytest.mark.django_db


PAYLOAD = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    time_machine.move_to(T0 + timedelta(minutes=1), tick=False)


def test_script_payloads_are_escaped_everywhere(client, agent, other_agent, make_incident):
    SOPTemplate.objects.filter(name="S2 first hour (triage)").update(play=f"Play {PAYLOAD}")
    incident = make_incident(title=f"Title {PAYLOAD}", stage_dri=agent)
    customer_update_post(incident=incident, body=f"Update {PAYLOAD}", channel=None, actor=agent, now=T0)
    handoff_offer(
        incident=incident,
        actor=agent,
        now=T0,
        to_stage="triage",
        to_user=other_agent,
        summary=f"Summary {PAYLOAD}",
        customer_impact=f"Impact {PAYLOAD}",
        next_steps=f"Next {PAYLOAD}",
        open_questions=f"Q {PAYLOAD}",
        links=f"javascript:{PAYLOAD}",
    )
    Notification.objects.create(
        incident=incident,
        channel=NotificationChannel.IN_APP,
        recipient=other_agent,
        subject=f"Page {PAYLOAD}",
        idempotency_key="x",
        created_at=T0,
    )
    client.force_login(other_agent)
    bodies = {
        "queue": client.get(reverse("escalations:queue"), {"queue": "all"}).content.decode(),
        "case": client.get(reverse("escalations:case-detail", args=[incident.pk])).content.decode(),
        "pages": client.get(reverse("escalations:pages")).content.decode(),
    }
    for name, body in bodies.items():
        assert PAYLOAD not in body, name
        assert ESCAPED in body, name
    case = bodies["case"]
    for label in ("Title", "Update", "Summary", "Impact", "Next", "Q", "Play"):
        assert f"{label} {ESCAPED}" in case, label


def test_pause_note_and_search_echo_are_escaped(client, agent, make_incident):
    incident = incident_acknowledge(incident=make_incident(), actor=agent, now=T0)
    incident_pause(incident=incident, reason="customer", note=f"Note {PAYLOAD}", actor=agent, now=T0)
    client.force_login(agent)
    case = client.get(reverse("escalations:case-detail", args=[incident.pk])).content.decode()
    assert PAYLOAD not in case and f"Note {ESCAPED}" in case
    queue = client.get(reverse("escalations:queue"), {"queue": "all", "q": PAYLOAD}).content.decode()
    assert PAYLOAD not in queue and ESCAPED in queue


def test_rejected_form_input_is_escaped_when_redisplayed(client, agent, make_incident):
    incident = make_incident()
    client.force_login(agent)
    response = client.post(reverse("escalations:case-create"), {"title": PAYLOAD, "action": "create"})
    assert response.status_code == 400
    assert PAYLOAD not in response.content.decode()
    response = client.post(
        reverse("escalations:case-pause", args=[incident.pk]),
        {"version": incident.version + 5, "reason": "customer", "note": PAYLOAD},
    )
    assert response.status_code == 409
    assert PAYLOAD not in response.content.decode()
