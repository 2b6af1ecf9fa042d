"""One rule, every door: is this case breached now?

The rule's one home is ``sla.clock.breached_clocks`` (``Incident.breached_clocks`` /
``is_breached``): a breach the sweep recorded counts until its promise is kept — an
acknowledge breach until the case is acknowledged, a resolve breach while the cycle is
open, an update breach until the next customer update — and a pause keeps no promise.
For each case below, built through the services and the sweep, every door gives the
answer the table expects: the API's payload (detail and list), its ``?breached=``
filter, the web queue's filter, its row and its breached band, the case page and the
admin list's column."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from escalations.models import ChecklistItem, Incident
from escalations.services import (
    checklist_item_set_done,
    customer_update_post,
    incident_acknowledge,
    incident_pause,
    incident_resolve,
)
from escalations.services.engine.sweep import sweep_run
from escalations.sla import QueueRank
from tests.conftest import T0
from tests.integration.api_support import _api_test_env, client_for, clock
from tests.integration.test_admin import admin_url

__all__ = ["_api_test_env", "clock"]

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)
H = timedelta(hours=1)


def _sweep(at: datetime) -> None:
    sweep_run(now=at, source="test")


def ack_breached_then_acknowledged(incident: Incident, actor) -> datetime:
    _sweep(T0 + 31 * M)  # the S2's 30 minutes to acknowledge have passed
    incident_acknowledge(incident=incident, actor=actor, now=T0 + 32 * M)
    return T0 + 33 * M


def resolve_breach_open(incident: Incident, actor) -> datetime:
    incident_acknowledge(incident=incident, actor=actor, now=T0 + M)
    for n in range(1, 10):  # an update every 50 minutes keeps the hourly promise
        customer_update_post(incident=incident, body=f"Update {n}", channel=None, actor=actor, now=T0 + n * 50 * M)
    _sweep(T0 + 8 * H + M)  # the S2's 8 hours to resolve have passed; the last update is 31 minutes old
    return T0 + 8 * H + 2 * M


def update_breach_paused(incident: Incident, actor) -> datetime:
    incident_acknowledge(incident=incident, actor=actor, now=T0 + M)
    _sweep(T0 + 61 * M)  # no customer update within the hour
    incident_pause(incident=incident, reason="customer", note="Waiting for logs", actor=actor, now=T0 + 62 * M)
    return T0 + 63 * M


def update_breach_answered(incident: Incident, actor) -> datetime:
    incident_acknowledge(incident=incident, actor=actor, now=T0 + M)
    _sweep(T0 + 61 * M)
    customer_update_post(incident=incident, body="Late, sorry", channel=None, actor=actor, now=T0 + 62 * M)
    return T0 + 63 * M


def resolve_breach_then_resolved(incident: Incident, actor) -> datetime:
    resolve_breach_open(incident, actor)
    for item in ChecklistItem.objects.filter(checklist__incident=incident, required=True, fact=""):
        checklist_item_set_done(item=item, done=True, actor=actor, now=T0 + 8 * H + 2 * M)
    incident_resolve(incident=incident, resolution="Fixed", actor=actor, now=T0 + 8 * H + 2 * M)
    return T0 + 8 * H + 3 * M


def never_breached(incident: Incident, actor) -> datetime:
    incident_acknowledge(incident=incident, actor=actor, now=T0 + M)
    return T0 + 2 * M


# name → (the story, the clocks breached now when it is told)
CASES: dict[str, tuple[Callable[[Incident, object], datetime], tuple[str, ...]]] = {
    "ack_breached_then_acknowledged": (ack_breached_then_acknowledged, ()),
    "resolve_breach_open": (resolve_breach_open, ("resolve",)),
    "update_breach_paused": (update_breach_paused, ("update",)),
    "update_breach_answered": (update_breach_answered, ()),
    "resolve_breach_then_resolved": (resolve_breach_then_resolved, ()),
    "never_breached": (never_breached, ()),
}


def _row(html: str, reference: str) -> str | None:
    """The table row (``<tr …>…</tr>``) that names ``reference``, if any."""
    for row in re.findall(r"<tr\b.*?</tr>", html, flags=re.S):
        if reference in row:
            return row
    return None


@pytest.mark.parametrize("name", list(CASES))
def test_every_door_says_the_same_about_breached(name, make_incident, agent, manager, clock):
    story, clocks_now = CASES[name]
    incident = make_incident()  # an S2 on a 24x7 calendar: 30 min to acknowledge, 8 h to resolve, hourly updates
    clock.move_to(story(incident, agent))
    incident = Incident.objects.get(pk=incident.pk)
    expected = bool(clocks_now)
    ref = incident.reference

    # The rule itself, for the case and per clock.
    assert incident.breached_clocks == clocks_now
    assert incident.is_breached is expected

    # The API: payload (detail, and the list's compiled rows) and the filter.
    api = client_for(manager)
    assert api.get(f"/api/v1/incidents/{incident.pk}/").json()["breached"] is expected
    rows = {r["id"]: r for r in api.get("/api/v1/incidents/", {"page_size": 100}).json()["results"]}
    assert rows[incident.pk]["breached"] is expected
    listed = {value: {r["id"] for r in api.get("/api/v1/incidents/", {"breached": value}).json()["results"]}
              for value in ("true", "false")}  # fmt: skip
    assert (incident.pk in listed["true"], incident.pk in listed["false"]) == (expected, not expected)

    # The work queues: the breached band stored for ordering, the shared filter, the row.
    assert (incident.queue_rank == QueueRank.BREACHED) is expected
    web = Client()
    web.force_login(manager)
    queue = reverse("escalations:queue")
    assert (ref in web.get(queue, {"queue": "all", "breached": "true"}).content.decode()) is (
        expected and incident.is_open
    )
    row = _row(web.get(queue, {"queue": "all"}).content.decode(), ref)
    assert (row is not None) is incident.is_open  # the queues list open cases only
    if row is not None:
        assert ("row--breached" in row) is expected

    # The case page: the case's mark, and each clock's.
    page = web.get(reverse("escalations:case-detail", args=[incident.pk])).content.decode()
    assert ('id="case-breached"' in page) is expected
    for kind, label in (("ack", "acknowledge"), ("resolve", "resolve"), ("update", "next customer update")):
        cell = re.search(rf'data-state="(\w+)" aria-label="{label}"', page)
        assert (cell is not None and cell.group(1) == "breached") is (kind in clocks_now), kind

    # The admin list's column.
    admin = web.get(admin_url(Incident, "changelist"), {"q": ref}).content.decode()
    cell = re.search(r'<td class="field-breached"><img src="[^"]*" alt="(True|False)">', admin)
    assert cell is not None and cell.group(1) == str(expected)
