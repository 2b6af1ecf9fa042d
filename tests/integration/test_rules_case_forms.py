"""One rule, every door: may this person change this case, and do this to it?

The case page shows an action's form exactly when that form's POST would be accepted from
the person looking at it. Generated over the access matrix's relations (their team's case,
one they created, one handed to them or their team, an open team's, one they were paged
about, another team's) and over who owns the case (they own its stage, nobody does),
for every role, and over the case's states (new, acknowledged, paused, resolved; an S1
whose floor the triggers set): every form the page renders is posted with valid input and
must be accepted (it writes), and every action whose form is missing must be refused
(it writes nothing). The rules behind it: ``access.may_change_case`` (a case seen only
through its team's open read access is read-only, and the page says so), and each
action's own (``may_hand_off``, ``may_reassign``, ``severities_open_to``,
``may_answer_handoff``, ``may_withdraw_handoff``, ``may_edit_postmortem``,
``selectors.valves.executive_availability``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from escalations.choices import NotificationChannel, Stage
from escalations.models import ChecklistItem, HandoffPacket, Incident, Notification
from escalations.security.access import case_workers, may_own_case
from escalations.services import (
    checklist_item_set_done,
    customer_update_post,
    handoff_offer,
    incident_acknowledge,
    incident_create,
    incident_pause,
    incident_resolve,
)
from escalations.services.common import audited_create
from escalations.sla import SEVERITY_ORDER
from tests.conftest import T0
from tests.factories import TeamFactory, UserFactory
from tests.integration.api_support import _api_test_env, clock, row_counts

__all__ = ["_api_test_env", "clock"]

pytestmark = pytest.mark.django_db

PACKET = {"summary": "s", "customer_impact": "c", "next_steps": "n"}
ROLES = ("agent", "engineer", "duty_manager", "manager", "policy_admin")
WORKS_CASES = {"agent", "engineer", "duty_manager", "manager"}
# Rows every workspace POST writes, refused or not, when it ends in a redirect (the
# form token's claim): not the action's work.
BOOKKEEPING = {"escalations.FormSubmission", "escalations.HistoricalFormSubmission"}


@dataclass
class World:
    user: Any
    other: Any  # made every case, owns their stages
    third: Any  # a case worker offers go to
    email: Any
    cases: dict[str, Incident]


def world_for(user, role: str, *, customer, email_channel) -> World:
    other = UserFactory(username="olga_other", roles=["CS Agents"])
    third = UserFactory(username="tom_third", roles=["CS Agents"])
    mine = TeamFactory(name="My team", slug="my-team", members=[user])
    theirs = TeamFactory(name="Their team", slug="their-team", members=[other])
    open_team = TeamFactory(name="Open team", slug="open-team", members=[other])
    open_team.open_read_access = True
    open_team.save(update_fields=["open_read_access"])
    # S3 by default: triage's exit is the acknowledgement alone, so a stage move or a
    # resolve fails only for who asks, never for an open checklist item.
    make = functools.partial(
        incident_create, actor=other, customer=customer, channel=email_channel, now=T0, stage_dri=other
    )

    def acked(incident: Incident, actor=other) -> Incident:
        incident_acknowledge(incident=incident, actor=actor, now=T0)
        return incident

    cases = {
        "own_team": acked(make(title="Own team's", team=mine)),
        "other_team": acked(make(title="Other team's", team=theirs)),
        "created_by_me": acked(make(title="Created by me", team=theirs, actor=user, stage_dri=None)),
        "handed_to_my_team": acked(make(title="Handed to my team", team=theirs)),
        "open_team": acked(make(title="Open team's", team=open_team)),
        "paged": acked(make(title="Paged", team=theirs)),
        "nobody_owns_the_stage": acked(make(title="Nobody owns the stage", team=mine, stage_dri=None)),
        "new": make(title="Not yet acknowledged", team=mine),
        "paused": acked(make(title="Paused", team=mine)),
        "resolved": acked(make(title="Resolved", team=mine)),
        # An S1 by its data risk: the floor is S1, so only a Manager may move it down.
        "s1_floor": make(
            title="S1 with its floor",
            team=mine,
            data_risk=True,
            commander=other,
            bridge_url="https://meet.example.com/s1",
        ),
    }
    handoff_offer(incident=cases["handed_to_my_team"], actor=other, now=T0, to_stage="triage", to_team=mine, **PACKET)
    audited_create(
        Notification,
        history_user=other,
        incident=cases["paged"],
        channel=NotificationChannel.IN_APP,
        recipient=user,
        subject="Paged",
        created_at=T0,
    )
    incident_pause(incident=cases["paused"], reason="customer", note="Logs", actor=other, now=T0)
    incident_resolve(incident=cases["resolved"], resolution="Fixed", actor=other, now=T0)
    s1 = cases["s1_floor"]
    incident_acknowledge(incident=s1, actor=other, now=T0)
    customer_update_post(incident=s1, body="We are on it", channel=None, actor=other, now=T0)
    for item in ChecklistItem.objects.filter(checklist__incident=s1, checklist__stage=Stage.TRIAGE, fact=""):
        checklist_item_set_done(item=item, done=True, actor=other, now=T0)
    if role in WORKS_CASES:  # only a case worker can own a case or be offered one
        cases["handed_to_me"] = acked(make(title="Handed to me", team=theirs))
        handoff_offer(incident=cases["handed_to_me"], actor=other, now=T0, to_stage="triage", to_user=user, **PACKET)
        cases["i_own_the_stage"] = acked(make(title="My stage", team=theirs, stage_dri=user))
        cases["my_offer"] = acked(make(title="Offered by me", team=theirs, stage_dri=user))
        handoff_offer(incident=cases["my_offer"], actor=user, now=T0, to_stage="triage", to_user=third, **PACKET)
    fresh = {name: Incident.objects.get(pk=incident.pk) for name, incident in cases.items()}
    return World(user=user, other=other, third=third, email=email_channel, cases=fresh)


# --- The actions: where each posts, and a valid input for it --------------------------------


def _details(incident: Incident) -> dict:
    values = {
        "title": f"{incident.title} (edited)",
        "commander": incident.commander_id or "",
        "stage_dri": incident.stage_dri_id or "",
        "bridge_url": incident.bridge_url,
        "team": incident.team_id or "",
        "sentiment": incident.sentiment,
        "arr_at_risk": str(incident.arr_at_risk),
        "users_affected_pct": str(incident.users_affected_pct),
        "reason": "",
    }
    values.update({flag: "on" for flag in ("data_risk", "legal_risk", "security_risk") if getattr(incident, flag)})
    return values


def _next_stage(incident: Incident) -> str:
    order = list(Stage.values)
    return order[min(order.index(incident.stage) + 1, len(order) - 1)]


def _item(incident: Incident) -> ChecklistItem:
    return ChecklistItem.objects.filter(checklist__incident=incident, fact="").order_by("id").first()


def _pending(incident: Incident) -> HandoffPacket | None:
    return HandoffPacket.objects.filter(incident=incident, status="offered").first()


@dataclass(frozen=True)
class Action:
    name: str
    url: Callable[[Incident], str | None]  # None: nothing to post to on this case
    data: Callable[[Incident, World], dict]


def _case_url(name: str) -> Callable[[Incident], str]:
    return lambda incident: reverse(f"escalations:{name}", args=[incident.pk])


def _handoff_url(name: str) -> Callable[[Incident], str | None]:
    def url(incident: Incident) -> str | None:
        pending = _pending(incident)
        return None if pending is None else reverse(f"escalations:{name}", args=[pending.pk])

    return url


def _v(incident: Incident) -> dict:
    return {"version": incident.version}


ACTIONS = [
    Action("acknowledge", _case_url("case-acknowledge"), lambda i, w: {}),
    Action("pause", _case_url("case-pause"), lambda i, w: {**_v(i), "reason": "customer", "note": "Logs"}),
    Action("resume", _case_url("case-resume"), lambda i, w: _v(i)),
    Action("log_channel", _case_url("case-log-channel"), lambda i, w: {**_v(i), "channel": w.email.pk}),
    Action("resolve", _case_url("case-resolve"), lambda i, w: {**_v(i), "resolution": "Fixed"}),
    Action("reopen", _case_url("case-reopen"), lambda i, w: {**_v(i), "reason": "Back again"}),
    Action("close", _case_url("case-close"), lambda i, w: _v(i)),
    Action("stage", _case_url("case-stage"), lambda i, w: {**_v(i), "stage": _next_stage(i), "reason": ""}),
    Action("update", _case_url("case-update"), lambda i, w: {**_v(i), "body": "An update"}),
    Action("details", _case_url("case-edit"), lambda i, w: {**_v(i), **_details(i)}),
    Action(
        "handoff",
        _case_url("case-handoff"),
        lambda i, w: {**_v(i), "to_user": w.third.pk, "to_team": "", "to_stage": i.stage, **PACKET},
    ),
    Action(
        "checklist_item",
        lambda i: reverse("escalations:case-checklist-item", args=[i.pk, _item(i).pk]),
        # The item's form ticks an open item and unticks a done one.
        lambda i, w: _v(i) if _item(i).done_at else {**_v(i), "done": "on"},
    ),
    Action("executive", _case_url("case-executive"), lambda i, w: {"reason": "The customer's board"}),
    Action("accept", _handoff_url("handoff-accept"), lambda i, w: _v(i)),
    Action("reject", _handoff_url("handoff-reject"), lambda i, w: {**_v(i), "reason": "Not mine"}),
    Action("withdraw", _handoff_url("handoff-cancel"), lambda i, w: _v(i)),
]


# Refusals about the case's state, not about who asks: the form is offered and the
# refusal names what is missing. A new case's stage cannot move on before the case is
# acknowledged (its triage exit).
STATE_RULES = {("new", "stage")}


class _Rollback(Exception):
    pass


def _accepted(client: Client, url: str, data: dict) -> bool:
    """Whether posting ``data`` to ``url`` did the action (it wrote rows), rolled back
    afterwards. A refusal must write nothing."""
    outcome: dict[str, Any] = {}
    try:
        with transaction.atomic():
            before = {k: v for k, v in row_counts().items() if k not in BOOKKEEPING}
            response = client.post(url, data)
            after = {k: v for k, v in row_counts().items() if k not in BOOKKEEPING}
            outcome["done"] = response.status_code < 400 and after != before
            raise _Rollback
    except _Rollback:
        pass
    return outcome["done"]


def _forms_on(page: str) -> set[str]:
    return set(re.findall(r'<form method="post" action="([^"]+)"', page))


def _severities_offered(page: str) -> list[str]:
    form = re.search(r'id="action-severity".*?</form>', page, flags=re.S)
    if form is None:
        return []
    select = re.search(r'<select name="severity".*?</select>', form.group(0), flags=re.S)
    return re.findall(r'<option value="(S\d)"', select.group(0)) if select else []


def _check_case(client: Client, world: World, name: str, incident: Incident) -> list[tuple]:
    """(case, action, shown, accepted) for every action that disagrees."""
    wrong = []
    response = client.get(reverse("escalations:case-detail", args=[incident.pk]))
    page = response.content.decode() if response.status_code == 200 else ""
    forms = _forms_on(page)
    for action in ACTIONS:
        url = action.url(incident)
        if url is None or (name, action.name) in STATE_RULES:
            continue
        shown = url in forms
        accepted = _accepted(client, url, action.data(incident, world))
        if shown != accepted:
            wrong.append((name, action.name, shown, accepted))
    # Severity: the page offers exactly the severities the service accepts from this person.
    offered = _severities_offered(page)
    for severity in SEVERITY_ORDER:
        if severity == incident.severity:
            continue
        url = reverse("escalations:case-severity", args=[incident.pk])
        accepted = _accepted(client, url, {**_v(incident), "severity": severity, "reason": "Checked"})
        if (severity in offered) != accepted:
            wrong.append((name, f"severity {severity}", severity in offered, accepted))
    # The RCA, on its own page.
    rca_url = reverse("escalations:case-rca", args=[incident.pk])
    rca = client.get(rca_url)
    shown = rca.status_code == 200 and f'<form method="post" action="{rca_url}"' in rca.content.decode()
    management = {f"items-{k}": v for k, v in (("TOTAL_FORMS", 0), ("INITIAL_FORMS", 0), ("MIN_NUM_FORMS", 0))}
    rca_data = {"summary": "What happened", "status": "draft", **management, "items-MAX_NUM_FORMS": 1000}
    accepted = _accepted(client, rca_url, rca_data)
    if shown != accepted:
        wrong.append((name, "rca", shown, accepted))
    # A person who may not change the case is told so where the forms would be.
    if response.status_code == 200 and not any(url.startswith(f"/cases/{incident.pk}/") for url in forms):
        assert 'id="read-only"' in page, (name, "a page without forms must say it is read-only")
    return wrong


@pytest.mark.parametrize("role", ROLES)
def test_the_case_page_shows_a_form_exactly_when_its_post_is_accepted(role, personas, customer, email_channel, clock):
    user = personas[role]
    world = world_for(user, role, customer=customer, email_channel=email_channel)
    client = Client()
    client.force_login(user)
    wrong = []
    for name, incident in world.cases.items():
        wrong += _check_case(client, world, name, incident)
    assert wrong == []


def test_may_own_a_case_is_one_rule_in_python_and_in_the_pickers(personas, integration):
    """``may_own_case`` and its query twin ``case_workers`` (every people picker, the
    API's owner fields) name the same people: whoever works cases and is active."""
    left = UserFactory(username="lee_left", roles=["CS Agents"], is_active=False)
    people = [*personas.values(), integration, left]
    listed = set(case_workers().filter(pk__in=[p.pk for p in people]).values_list("pk", flat=True))
    assert {p.pk for p in people if may_own_case(p)} == listed
    assert listed == {personas[role].pk for role in WORKS_CASES}
