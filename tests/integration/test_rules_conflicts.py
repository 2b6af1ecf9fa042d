"""One rule, every door: is a change made from an old version of the case stale?

The rule's one home is ``services.common.incident_lock(expected_version=…, depends_on=…)``:
a change is refused as stale only when a field it changes or relies on changed since the
version the person had. The web's forms and the API's PATCH (``services.incident_patch``)
both follow it, so the same edit, sent from the same old version after the same change
by someone else, is refused by both or by neither: 409 on the page, 412 in the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from escalations.models import Incident
from escalations.services import (
    customer_update_post,
    incident_acknowledge,
    incident_change_severity,
    incident_pause,
    incident_set_stage,
    incident_update,
)
from tests.conftest import T0
from tests.integration.api_support import _api_test_env, client_for, clock

__all__ = ["_api_test_env", "clock"]

pytestmark = pytest.mark.django_db

# What someone else does after the person loaded the case.
THEIRS: dict[str, Callable[[Incident, Any], Any]] = {
    "customer_update": lambda i, who: customer_update_post(incident=i, body="News", channel=None, actor=who, now=T0),
    "title": lambda i, who: incident_update(incident=i, title="Their title", actor=who, now=T0),
    "severity": lambda i, who: incident_change_severity(incident=i, severity="S2", reason="Renewal", actor=who, now=T0),
    "stage": lambda i, who: incident_set_stage(incident=i, stage="command", actor=who, now=T0),
    "pause": lambda i, who: incident_pause(incident=i, reason="customer", note="Logs", actor=who, now=T0),
}


def _details(seen: Incident, **changes: Any) -> dict:
    """The details form as the person's page rendered it (the version they saw), with
    their change: a browser sends every field the form shows."""
    values = {
        "version": seen.version,
        "title": seen.title,
        "commander": seen.commander_id or "",
        "stage_dri": seen.stage_dri_id or "",
        "bridge_url": seen.bridge_url,
        "team": seen.team_id or "",
        "sentiment": seen.sentiment,
        "arr_at_risk": str(seen.arr_at_risk),
        "users_affected_pct": str(seen.users_affected_pct),
        "reason": "",
    }
    return {**values, **changes}


# The person's edit, as the page posts it and as the API's PATCH sends it.
MINE: dict[str, tuple[Callable[[Incident], tuple[str, dict]], Callable[[Incident], dict]]] = {
    "title": (
        lambda seen: ("case-edit", _details(seen, title="My title")),
        lambda seen: {"title": "My title", "version": seen.version},
    ),
    "severity": (
        lambda seen: ("case-severity", {"version": seen.version, "severity": "S1", "reason": "Data at risk"}),
        lambda seen: {"severity": "S1", "severity_reason": "Data at risk", "version": seen.version},
    ),
    "stage": (
        lambda seen: ("case-stage", {"version": seen.version, "stage": "command", "reason": ""}),
        lambda seen: {"stage": "command", "version": seen.version},
    ),
}

# (theirs, mine) pairs that are stale: the fields overlap, or the case's state moved.
STALE = {
    ("title", "title"),
    ("severity", "severity"),
    ("stage", "stage"),
    ("pause", "title"),
    ("pause", "severity"),
    ("pause", "stage"),
}


class _Rollback(Exception):
    pass


def _status(call: Callable[[], Any]) -> int:
    """The status of one request, its writes rolled back."""
    outcome: dict[str, int] = {}
    try:
        with transaction.atomic():
            outcome["status"] = call().status_code
            raise _Rollback
    except _Rollback:
        pass
    return outcome["status"]


@pytest.mark.parametrize("theirs", list(THEIRS))
def test_the_page_and_the_api_refuse_the_same_stale_edits(
    theirs, make_incident, team, agent, other_agent, manager, clock
):
    # An S3 of the team, owned by the other agent; the person editing is a Manager, who
    # may make every one of these edits: only staleness can refuse them.
    incident = make_incident(arr_at_risk=0, team=team, stage_dri=other_agent)
    incident_acknowledge(incident=incident, actor=other_agent, now=T0)
    seen = Incident.objects.get(pk=incident.pk)
    THEIRS[theirs](incident, other_agent)

    web = Client()
    web.force_login(manager)
    api = client_for(manager)
    wrong = []
    for mine, (page_post, patch) in MINE.items():
        route, data = page_post(seen)
        url = reverse(f"escalations:{route}", args=[incident.pk])
        on_page = _status(lambda url=url, data=data: web.post(url, data))
        body = patch(seen)
        in_api = _status(lambda body=body: api.patch(f"/api/v1/incidents/{incident.pk}/", body, format="json"))
        stale = (theirs, mine) in STALE
        # Stale at both doors or at neither; when not stale, both accept it or both
        # refuse it for the same other reason (a severity raised meanwhile brings new
        # exit criteria for the stage, say).
        if (on_page == 409, in_api == 412) != (stale, stale) or (on_page == 302) != (in_api == 200):
            wrong.append((mine, on_page, in_api, "stale" if stale else "not stale"))
    assert wrong == []
