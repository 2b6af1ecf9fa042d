"""Pinned query counts: the queue and the case page run a fixed number of queries,
whatever the number of rows or timeline entries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from escalations.models import ChecklistItem
from escalations.services import (
    checklist_item_set_done,
    customer_update_post,
    handoff_offer,
    incident_acknowledge,
    incident_pause,
)
from tests.conftest import T0

pytestmark = pytest.mark.django_db


# Queue: session, user, profile (time zone), permissions (one query: escalations.security.backends),
# count, page, filter choices (teams, customers). Case page: those four, the case, whether
# this person may change it (access.may_change_case; none for those who see every case),
# its pauses, checklists, items, handoffs, timeline, latest update, channels, teams, people
# (pickers share them), the escape valves (executive and service-credit requests, the
# breaches open to a credit; three more to price them when there are some) and the
# executive rung (selectors.valves.executive_availability). Pinned exactly, so a
# regression shows up here.
QUEUE_QUERIES = 8
CASE_QUERIES = 19


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    time_machine.move_to(T0 + timedelta(minutes=1), tick=False)


def count(client, url: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_queue_query_count_does_not_grow_with_rows(client, agent, other_agent, team, make_incident):
    client.force_login(agent)
    for n in range(5):
        make_incident(title=f"Case {n}", stage_dri=other_agent, commander=agent, team=team)
    few = count(client, reverse("escalations:queue"))
    for n in range(25):
        make_incident(title=f"More {n}", stage_dri=agent, team=team, data_risk=n % 2 == 0)
    many = count(client, reverse("escalations:queue"))
    assert few == many == QUEUE_QUERIES
    client.get(reverse("escalations:queue"), {"queue": "team"})  # remembers the tab (a write, once)
    filtered = count(client, reverse("escalations:queue"), {"queue": "team", "severity": "S1", "q": "more"})
    # Search looks up matching customer ids first (one query) so PostgreSQL can combine
    # two index scans instead of scanning every case (escalations/filtersets.py).
    assert filtered == QUEUE_QUERIES + 1


def test_case_page_query_count_does_not_grow_with_timeline(client, agent, other_agent, make_incident):
    client.force_login(agent)
    incident = make_incident(data_risk=True, stage_dri=agent)
    url = reverse("escalations:case-detail", args=[incident.pk])
    few = count(client, url)
    for n in range(15):
        customer_update_post(incident=incident, body=f"Update {n}", channel=None, actor=agent, now=T0)
    for item in ChecklistItem.objects.filter(checklist__incident=incident, fact=""):
        checklist_item_set_done(item=item, done=True, actor=agent, now=T0)
    incident_acknowledge(incident=incident, actor=agent, now=T0)
    incident_pause(incident=incident, reason="customer", note="Logs", actor=agent, now=T0)
    handoff_offer(
        incident=incident,
        actor=agent,
        now=T0,
        to_stage="triage",
        to_user=other_agent,
        summary="s",
        customer_impact="c",
        next_steps="n",
    )
    many = count(client, url)
    assert incident.events.count() > 30
    assert few == CASE_QUERIES
    # Never more with a long timeline (fewer here: a pending handoff replaces the offer form).
    assert many <= CASE_QUERIES
