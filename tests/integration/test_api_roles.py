"""The role × endpoint matrix. Each endpoint is called by every persona (and an anonymous
client) against the same starting state: each call runs inside a savepoint that is rolled
back afterwards. A refused call must leave every table as it was."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction

from escalations.models import ChecklistItem
from escalations.services import handoff_offer, incident_acknowledge, incident_pause, incident_resolve
from escalations.services.review_weeks import review_weeks_keep
from tests.conftest import T0
from tests.factories import TeamFactory
from tests.integration.api_support import _api_test_env, client_for, clock, row_counts

__all__ = ["_api_test_env", "clock"]

pytestmark = pytest.mark.django_db

ALL = {"agent", "duty_manager", "engineer", "manager", "policy_admin"}
WORKERS = {"agent", "duty_manager", "engineer", "manager"}
CREATORS = {"agent", "duty_manager", "manager"}
PACKET = {"summary": "s", "customer_impact": "c", "next_steps": "n"}


@dataclass
class World:
    case: Any
    acked: Any
    s2_case: Any
    paused: Any
    resolved: Any
    team_offer: Any
    item: Any
    customer: Any
    other_agent: Any


@pytest.fixture
def world(personas, other_agent, make_incident, customer, clock) -> World:
    # Every case is the whole cast's team's, so this matrix is about roles; which case a
    # role may reach is tests/integration/test_case_access.py's matrix.
    everyone = TeamFactory(name="Everyone", slug="everyone", members=[*personas.values(), other_agent])
    make_incident = functools.partial(make_incident, team=everyone)
    case = make_incident(arr_at_risk=0, title="S3 case")
    s2_case = make_incident(title="S2 case")
    acked = make_incident(arr_at_risk=0, title="Acknowledged")
    incident_acknowledge(incident=acked, actor=other_agent, now=T0)
    paused = make_incident(arr_at_risk=0, title="Paused")
    incident_acknowledge(incident=paused, actor=other_agent, now=T0)
    incident_pause(incident=paused, reason="customer", note="logs", actor=other_agent, now=T0)
    resolved = make_incident(arr_at_risk=0, title="Resolved")
    incident_resolve(incident=resolved, resolution="done", actor=other_agent, now=T0)
    offer_case = make_incident(arr_at_risk=0, title="Offered")
    team_offer = handoff_offer(
        incident=offer_case, actor=other_agent, now=T0, to_stage="triage", to_team=everyone, **PACKET
    )
    item = ChecklistItem.objects.filter(checklist__incident=s2_case, fact="").first()
    review_weeks_keep(now=T0)  # the beat: 2026-W46 and the weeks before it are kept
    return World(case, acked, s2_case, paused, resolved, team_offer, item, customer, other_agent)


@dataclass
class Endpoint:
    method: str
    path: Callable[[World], str]
    allowed: set[str]
    ok: int
    body: Callable[[World], dict] = lambda w: {}


ENDPOINTS: dict[str, Endpoint] = {
    "incidents list": Endpoint("get", lambda w: "/api/v1/incidents/", ALL, 200),
    "incidents create": Endpoint(
        "post",
        lambda w: "/api/v1/incidents/",
        CREATORS,
        201,
        lambda w: {"title": "New", "customer": w.customer.pk, "channel": "email"},
    ),
    "incident detail": Endpoint("get", lambda w: f"/api/v1/incidents/{w.case.pk}/", ALL, 200),
    "incident patch": Endpoint(
        "patch", lambda w: f"/api/v1/incidents/{w.case.pk}/", WORKERS, 200, lambda w: {"title": "Edited"}
    ),
    "acknowledge": Endpoint("post", lambda w: f"/api/v1/incidents/{w.case.pk}/acknowledge/", WORKERS, 200),
    "pause": Endpoint(
        "post",
        lambda w: f"/api/v1/incidents/{w.acked.pk}/pause/",
        WORKERS,
        200,
        lambda w: {"reason": "customer", "note": "waiting"},
    ),
    "resume": Endpoint("post", lambda w: f"/api/v1/incidents/{w.paused.pk}/resume/", WORKERS, 200),
    "resolve": Endpoint(
        "post", lambda w: f"/api/v1/incidents/{w.case.pk}/resolve/", WORKERS, 200, lambda w: {"resolution": "fixed"}
    ),
    "reopen": Endpoint(
        "post", lambda w: f"/api/v1/incidents/{w.resolved.pk}/reopen/", WORKERS, 200, lambda w: {"reason": "back"}
    ),
    "close": Endpoint("post", lambda w: f"/api/v1/incidents/{w.resolved.pk}/close/", WORKERS, 200),
    "severity": Endpoint(
        "post",
        lambda w: f"/api/v1/incidents/{w.case.pk}/severity/",
        WORKERS,
        200,
        lambda w: {"severity": "S2", "reason": "renewal"},
    ),
    "updates list": Endpoint("get", lambda w: f"/api/v1/incidents/{w.case.pk}/updates/", ALL, 200),
    "updates post": Endpoint(
        "post", lambda w: f"/api/v1/incidents/{w.case.pk}/updates/", WORKERS, 201, lambda w: {"body": "hello"}
    ),
    "timeline": Endpoint("get", lambda w: f"/api/v1/incidents/{w.case.pk}/timeline/", ALL, 200),
    "checklist": Endpoint("get", lambda w: f"/api/v1/incidents/{w.s2_case.pk}/checklist/", ALL, 200),
    "checklist complete": Endpoint("post", lambda w: f"/api/v1/checklist-items/{w.item.pk}/complete/", WORKERS, 200),
    "handoffs list": Endpoint("get", lambda w: f"/api/v1/incidents/{w.case.pk}/handoffs/", ALL, 200),
    "handoff offer": Endpoint(
        "post",
        lambda w: f"/api/v1/incidents/{w.case.pk}/handoffs/",
        WORKERS,
        201,
        lambda w: {**PACKET, "to_user": w.other_agent.pk, "to_stage": "triage"},
    ),
    "handoff accept": Endpoint("post", lambda w: f"/api/v1/handoffs/{w.team_offer.pk}/accept/", WORKERS, 200),
    "handoff reject": Endpoint(
        "post", lambda w: f"/api/v1/handoffs/{w.team_offer.pk}/reject/", WORKERS, 200, lambda w: {"reason": "not ours"}
    ),
    "breaches": Endpoint("get", lambda w: "/api/v1/breaches/", ALL, 200),
    "policies list": Endpoint("get", lambda w: "/api/v1/policies/", ALL, 200),
    "policy detail": Endpoint("get", lambda w: "/api/v1/policies/S2/", ALL, 200),
    "policy patch": Endpoint(
        "patch", lambda w: "/api/v1/policies/S4/", {"policy_admin"}, 200, lambda w: {"description": "Low"}
    ),
    "metrics weekly": Endpoint(
        "get", lambda w: "/api/v1/metrics/weekly/?week=2026-W46", {"duty_manager", "manager"}, 200
    ),
    "metrics weekly v2": Endpoint(
        "get", lambda w: "/api/v2/metrics/weekly/?week=2026-W46", {"duty_manager", "manager"}, 200
    ),
    "intake": Endpoint(
        "post",
        lambda w: "/api/v1/intake/",
        {"integration"},
        201,
        lambda w: {"title": "Alert", "customer": w.customer.pk, "channel": "monitoring", "external_id": "alert-1"},
    ),
}


class _Rollback(Exception):
    pass


def _call(endpoint: Endpoint, world: World, user: Any) -> tuple[int, bool]:
    """(status, database unchanged) for one call, rolled back afterwards."""
    outcome: dict[str, Any] = {}
    try:
        with transaction.atomic():
            before = row_counts()
            client = client_for(user)
            method = getattr(client, endpoint.method)
            path = endpoint.path(world)
            response = method(path, endpoint.body(world), format="json") if endpoint.method != "get" else method(path)
            outcome["status"] = response.status_code
            outcome["unchanged"] = row_counts() == before
            outcome["body"] = response.json()
            raise _Rollback
    except _Rollback:
        pass
    if outcome["status"] >= 400:
        assert set(outcome["body"]) == {"error"}, outcome["body"]
    return outcome["status"], outcome["unchanged"]


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_role_matrix(name, world, personas, integration):
    endpoint = ENDPOINTS[name]
    results = {}
    for persona, user in [*personas.items(), ("integration", integration), ("anonymous", None)]:
        results[persona] = _call(endpoint, world, user)
    expected = {
        persona: (endpoint.ok if persona in endpoint.allowed else 401 if persona == "anonymous" else 403)
        for persona in results
    }
    assert {p: status for p, (status, _) in results.items()} == expected
    for persona, (status, unchanged) in results.items():
        if status in (401, 403):
            assert unchanged, f"{persona} was refused but the database changed"
