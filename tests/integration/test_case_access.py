"""Role × case × action: who may see and change which case, through every door.

One table (RELATIONS, ROUTES and ``expected``) generates the whole matrix: each role
meets one case per relation (its team's, another team's, one it created, one handed to
it, one handed to its team, an open team's, one it was paged about) and calls every web
and API route that names a case, a checklist item or a handoff. A case the role may not
see is a 404 everywhere (never a 403 that would confirm the id exists), a refused call
changes nothing, and a route added to the URLconf without a row here fails the test.
The admin, the lists (queue, search, API list, breaches) and the rule's other callers
are checked against the same ``may_see``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from escalations.choices import NotificationChannel
from escalations.models import ChecklistItem, HandoffPacket, Incident, Notification
from escalations.security import roles
from escalations.security.access import may_change_case, may_see_case
from escalations.services import handoff_offer, incident_create
from escalations.services.common import audited_create
from tests.conftest import T0
from tests.factories import TeamFactory, UserFactory
from tests.integration.api_support import _api_test_env, client_for, clock, row_counts
from tests.integration.test_admin import admin_url
from tests.integration.test_manage_access import MANAGER_PAGES

__all__ = ["_api_test_env", "clock"]

pytestmark = pytest.mark.django_db

PACKET = {"summary": "s", "customer_impact": "c", "next_steps": "n"}
ROLES = {
    "agent": roles.CS_AGENTS,
    "engineer": roles.ENGINEERS,
    "duty_manager": roles.DUTY_MANAGERS,
    "manager": roles.MANAGERS,
    "policy_admin": roles.POLICY_ADMINS,
}
SEES_EVERY_CASE = {"duty_manager", "manager"}
WORKS_CASES = {"agent", "engineer", "duty_manager", "manager"}
STAFF = {"manager", "policy_admin"}

# relation → (may read, may change) for someone who does not see every case.
RELATIONS = {
    "own_team": (True, True),
    "other_team": (False, False),
    "created_by_me": (True, True),
    "handed_to_me": (True, True),
    "handed_to_my_team": (True, True),
    "open_team": (True, False),
    "paged": (True, True),
}


def may_see(role: str, relation: str, *, write: bool) -> bool:
    if role in SEES_EVERY_CASE:
        return True
    read, change = RELATIONS[relation]
    return change if write else read


def expected(role: str, relation: str, *, write: bool) -> str:
    """ "ok" (any answer but 403/404/5xx), "403" (the role may not change cases at all:
    refused before the case is looked up) or "404"."""
    if write and role not in WORKS_CASES:
        return "403"
    return "ok" if may_see(role, relation, write=write) else "404"


@dataclass
class Target:
    incident: Incident
    item: ChecklistItem
    handoff: HandoffPacket


@dataclass(frozen=True)
class Route:
    name: str  # the URL name, namespaced
    method: str
    write: bool
    args: Callable[[Target], list]
    api: bool = False
    # Answering a handoff offered to someone else is refused with 403 by the service: the
    # case is visible, the offer is not theirs (no existence leak).
    not_yours_is_403: bool = False
    # A write only these roles may make on a case they may change (a permission of their
    # role); the other case workers are refused with 403 there.
    only_roles: frozenset[str] | None = None


def case(t: Target) -> list:
    return [t.incident.pk]


WEB = [
    Route("escalations:case-detail", "get", False, case),
    Route("escalations:case-acknowledge", "post", True, case),
    Route("escalations:case-pause", "post", True, case),
    Route("escalations:case-resume", "post", True, case),
    Route("escalations:case-log-channel", "post", True, case),
    Route("escalations:case-resolve", "post", True, case),
    Route("escalations:case-reopen", "post", True, case),
    Route("escalations:case-close", "post", True, case),
    Route("escalations:case-severity", "post", True, case),
    Route("escalations:case-stage", "post", True, case),
    Route("escalations:case-update", "post", True, case),
    Route("escalations:case-edit", "post", True, case),
    Route("escalations:case-handoff", "post", True, case),
    Route("escalations:case-executive", "post", True, case),
    Route("escalations:case-credit", "post", True, case),
    Route("escalations:case-checklist-item", "post", True, lambda t: [t.incident.pk, t.item.pk]),
    Route("escalations:handoff-accept", "post", True, lambda t: [t.handoff.pk], not_yours_is_403=True),
    Route("escalations:handoff-reject", "post", True, lambda t: [t.handoff.pk], not_yours_is_403=True),
    Route("escalations:handoff-cancel", "post", True, lambda t: [t.handoff.pk]),
    Route("escalations:shift-handoff-case", "get", True, case),
    Route("escalations:case-rca", "get", False, case),
    Route("escalations:case-rca", "post", True, case, only_roles=frozenset({"engineer", "manager"})),
]
API = [
    Route("api:incident-detail", "get", False, case, api=True),
    Route("api:incident-detail", "patch", True, case, api=True),
    *[
        Route(f"api:incident-{name}", "post", True, case, api=True)
        for name in ("acknowledge", "pause", "resume", "resolve", "reopen", "close", "severity")
    ],
    Route("api:incident-updates", "get", False, case, api=True),
    Route("api:incident-updates", "post", True, case, api=True),
    Route("api:incident-timeline", "get", False, case, api=True),
    Route("api:incident-checklist", "get", False, case, api=True),
    Route("api:incident-handoffs", "get", False, case, api=True),
    Route("api:incident-handoffs", "post", True, case, api=True),
    Route("api:checklist-item-complete", "post", True, lambda t: [t.item.pk], api=True),
    Route("api:handoff-accept", "post", True, lambda t: [t.handoff.pk], api=True, not_yours_is_403=True),
    Route("api:handoff-reject", "post", True, lambda t: [t.handoff.pk], api=True, not_yours_is_403=True),
]
ROUTES = WEB + API


def _object_routes() -> set[str]:
    """Every URL name (namespaced) whose path names a case, an item or a handoff."""
    found: set[str] = set()

    def walk(patterns, namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and "<int:" in str(pattern.pattern) and pattern.name:
                found.add(f"{namespace}:{pattern.name}")

    walk(get_resolver().url_patterns, "")
    return found


# Routes whose id names a shift (their access: tests/integration/test_rota.py) or one of
# the signed-in person's own pages (tests/integration/test_views_inbox.py), not a case; and
# the managers' pages: 404 for every role but Duty Managers and Managers, who see every
# case (their access: tests/integration/test_manage_access.py; the approvals' decision
# doors, whose ids name requests: tests/integration/test_valves.py).
NOT_CASE_OBJECTS = {
    "escalations:rota-cover",
    "escalations:rota-swap",
    "escalations:page-acknowledge",
    "escalations:manage-approve-executive",
    "escalations:manage-approve-credit",
}
# Every page under /manage/ is behind the managers' gate; test_manage_access.py's matrix
# must list each of them (checked below).
MANAGER_PREFIX = "escalations:manage-"


def test_every_route_that_names_a_case_has_a_row():
    routes = _object_routes() - NOT_CASE_OBJECTS
    assert {r for r in routes if not r.startswith(MANAGER_PREFIX)} == {route.name for route in ROUTES}
    assert {r for r in routes if r.startswith(MANAGER_PREFIX)} <= {name for name, _ in MANAGER_PAGES}


@pytest.fixture
def cast(playbook, customer, email_channel):
    other = UserFactory(username="olga_other", roles=[roles.CS_AGENTS])
    third = UserFactory(username="tom_third", roles=[roles.CS_AGENTS])
    return {"other": other, "third": third, "customer": customer, "channel": email_channel}


def world_for(user, role: str, cast: dict) -> dict[str, Target]:
    """One case per relation, as ``user`` meets it. Everything is made through the services
    by someone else (olga), except the case ``user`` created."""
    other, third = cast["other"], cast["third"]
    mine = TeamFactory(name=f"{role} team", slug=f"{role}-team", members=[user])
    theirs = TeamFactory(name="Their team", slug="their-team", members=[other])
    open_team = TeamFactory(name="Open team", slug="open-team", members=[other])
    open_team.open_read_access = True
    open_team.save(update_fields=["open_read_access"])
    make = functools.partial(
        incident_create, actor=other, customer=cast["customer"], channel=cast["channel"], now=T0, arr_at_risk=60000
    )

    def target(incident: Incident, **offer: Any) -> Target:
        handoff = handoff_offer(
            incident=incident, actor=other, now=T0, to_stage="triage", **(offer or {"to_user": third}), **PACKET
        )
        item = ChecklistItem.objects.filter(checklist__incident=incident, fact="").order_by("id").first()
        return Target(Incident.objects.get(pk=incident.pk), item, handoff)

    world = {
        "own_team": target(make(title="Own team's", team=mine, stage_dri=other)),
        "other_team": target(make(title="Other team's", team=theirs, stage_dri=other)),
        "created_by_me": target(make(title="Created by me", team=theirs, stage_dri=other, actor=user)),
        "handed_to_my_team": target(make(title="Handed to my team", team=theirs, stage_dri=other), to_team=mine),
        "open_team": target(make(title="Open team's", team=open_team, stage_dri=other)),
    }
    paged = make(title="Paged", team=theirs, stage_dri=other)
    audited_create(
        Notification,
        history_user=other,
        incident=paged,
        channel=NotificationChannel.IN_APP,
        recipient=user,
        subject="Paged",
        created_at=T0,
    )
    world["paged"] = target(paged)
    if role in WORKS_CASES:  # only someone who works cases can be offered one
        world["handed_to_me"] = target(make(title="Handed to me", team=theirs, stage_dri=other), to_user=user)
    return world


class _Rollback(Exception):
    pass


def _call(route: Route, target: Target, user) -> tuple[int, bool]:
    """(status, database unchanged) of one call, rolled back afterwards."""
    outcome: dict[str, Any] = {}
    try:
        with transaction.atomic():
            before = row_counts()
            url = reverse(route.name, args=route.args(target))
            if route.api:
                client = client_for(user)
                call = getattr(client, route.method)
                response = call(url, {}, format="json") if route.method != "get" else call(url)
            else:
                client = Client()
                client.force_login(user)
                response = getattr(client, route.method)(url)
            outcome["status"] = response.status_code
            outcome["unchanged"] = row_counts() == before
            raise _Rollback
    except _Rollback:
        pass
    return outcome["status"], outcome["unchanged"]


@pytest.mark.parametrize("role", list(ROLES))
def test_role_case_action_matrix(role, cast, personas, clock):
    user = personas[role]
    world = world_for(user, role, cast)
    wrong = []
    for relation, target in world.items():
        for route in ROUTES:
            status, unchanged = _call(route, target, user)
            want = expected(role, relation, write=route.write)
            if route.only_roles is not None and role not in route.only_roles and want == "ok":
                want = "403"
            got = "ok" if status not in (403, 404) and status < 500 else str(status)
            if route.not_yours_is_403 and status == 403 and role in WORKS_CASES:
                got = "ok"
            if got != want or (status in (403, 404) and not unchanged):
                wrong.append((relation, route.name, route.method, status, want, unchanged))
    assert wrong == []


@pytest.mark.parametrize("role", list(ROLES))
def test_lists_and_search_show_exactly_the_visible_cases(role, cast, personas, clock):
    user = personas[role]
    world = world_for(user, role, cast)
    visible = {t.incident.pk for rel, t in world.items() if may_see(role, rel, write=False)}
    everything = {t.incident.pk for t in world.values()}

    api = client_for(user)
    listed = {row["id"] for row in api.get("/api/v1/incidents/?page_size=100").json()["results"]}
    assert listed & everything == visible
    breached = {row["incident"] for row in api.get("/api/v1/breaches/").json()["results"]}
    assert breached <= visible

    web = Client()
    web.force_login(user)
    queue = web.get(reverse("escalations:queue") + "?queue=all").content.decode()
    assert {t.incident.pk for t in world.values() if t.incident.reference in queue} == visible
    for relation, target in world.items():
        found = web.get(reverse("escalations:queue"), {"queue": "all", "q": target.incident.title}).content.decode()
        assert (target.incident.reference in found) == may_see(role, relation, write=False), relation
        assert may_see_case(user, target.incident) == may_see(role, relation, write=False), relation
        assert may_change_case(user, target.incident) == (expected(role, relation, write=True) == "ok"), relation


@pytest.mark.parametrize("role", sorted(STAFF))
def test_admin_shows_only_the_visible_cases(role, cast, personas):
    user = personas[role]
    world = world_for(user, role, cast)
    client = Client()
    client.force_login(user)
    for relation, target in world.items():
        seen = may_see(role, relation, write=False)
        change = client.get(admin_url(Incident, "change", target.incident.pk))
        assert change.status_code == (200 if seen else 302), relation
        history = client.get(admin_url(Incident, "history", target.incident.pk))
        assert history.status_code == (200 if seen else 404), relation
        if user.has_perm("escalations.view_handoffpacket"):
            handoff = client.get(admin_url(HandoffPacket, "change", target.handoff.pk))
            assert handoff.status_code == (200 if seen else 302), relation


def test_owners_change_through_a_handoff_or_by_an_owner_or_a_manager(cast, personas, clock):
    """The attack: a teammate makes themselves stage DRI without a handoff. Refused at
    every door with a message that says to offer a handoff; the case is unchanged."""
    agent, manager, other = personas["agent"], personas["manager"], cast["other"]
    team = TeamFactory(name="Shared", slug="shared", members=[agent, other])
    incident = incident_create(
        actor=other,
        title="Shared case",
        customer=cast["customer"],
        channel=cast["channel"],
        now=T0,
        team=team,
        stage_dri=other,
    )
    before = row_counts()

    api = client_for(agent).patch(f"/api/v1/incidents/{incident.pk}/", {"stage_dri": agent.pk}, format="json")
    assert api.status_code == 403 and "offer a handoff" in api.json()["error"]["fields"]["stage_dri"][0]

    web = Client()
    web.force_login(agent)
    page = web.post(
        reverse("escalations:case-edit", args=[incident.pk]),
        {
            "version": incident.version,
            "stage_dri": agent.pk,
            "commander": "",
            "sentiment": "unknown",
            "arr_at_risk": "0",
            "users_affected_pct": "0",
            "title": incident.title,
        },
    )
    assert page.status_code == 403 and "offer a handoff" in page.content.decode()
    assert row_counts() == before

    # The current owner may name someone else, and a Manager may reassign, in the admin too.
    client_for(other).patch(f"/api/v1/incidents/{incident.pk}/", {"commander": agent.pk}, format="json")
    assert Incident.objects.get(pk=incident.pk).commander == agent
    admin = Client()
    admin.force_login(manager)
    change = admin.get(admin_url(Incident, "change", incident.pk))
    assert change.status_code == 200
    reassigned = client_for(manager).patch(f"/api/v1/incidents/{incident.pk}/", {"stage_dri": agent.pk}, format="json")
    assert reassigned.status_code == 200 and Incident.objects.get(pk=incident.pk).stage_dri == agent
