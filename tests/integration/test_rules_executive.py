"""One rule, every door: may this case be escalated to an executive now?

The rule's one home is ``selectors.valves.executive_availability``. For a table of cases
(the policy does not escalate to executives, its chain has no executive rung, the case is
already at the rung, a request is waiting, a drill, a closed case, one that may ask), the
case page offers "Ask for an executive" exactly when the request service accepts the
request, says why where the button would be otherwise, and the rule's answer is the one
the table expects."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from escalations.choices import ChainTarget
from escalations.models import EscalationStep, ExecutiveEscalationRequest, Incident
from escalations.selectors.valves import executive_availability
from escalations.services import incident_resolve
from escalations.services.common import audited_delete
from escalations.services.valves import executive_escalation_request
from tests.engine_support import shift
from tests.factories import UserFactory
from tests.integration.api_support import _api_test_env, clock, row_counts

__all__ = ["_api_test_env", "clock"]

pytestmark = pytest.mark.django_db

BUTTON = 'id="action-executive"'


@pytest.fixture
def on_call_executive(team, now):
    person = UserFactory(username="eve_exec")
    shift(person, team, "executive", now, hours=48)
    return person


def _flag_off(make, **_: Any) -> Incident:
    return make(title="S2: its policy does not escalate to executives")


def _no_rung(make, *, manager, **_: Any) -> Incident:
    incident = make(title="S1 whose chain lost its executive rung", severity="S1", severity_reason="CEO")
    for step in EscalationStep.objects.filter(policy=incident.policy, target=ChainTarget.EXECUTIVE):
        audited_delete(step, actor=manager)
    return incident


def _at_the_rung(make, *, agent, now, **_: Any) -> Incident:
    incident = make(title="S1 already escalated", data_risk=True)  # the objective trigger holds: immediate
    executive_escalation_request(incident=incident, reason="Data exposed", actor=agent, now=now)
    return incident


def _pending(make, *, agent, now, **_: Any) -> Incident:
    incident = make(title="S1 waiting for a Manager", severity="S1", severity_reason="CEO")
    executive_escalation_request(incident=incident, reason="Board-level customer", actor=agent, now=now)
    return incident


def _drill(make, *, duty_manager, **_: Any) -> Incident:
    return make(title="S1 drill", data_risk=True, is_drill=True, actor=duty_manager)


def _closed(make, *, agent, now, **_: Any) -> Incident:
    incident = make(title="Resolved", arr_at_risk=0)
    incident_resolve(incident=incident, resolution="Fixed", actor=agent, now=now)
    return incident


def _may_ask(make, **_: Any) -> Incident:
    return make(title="S1 that may ask", severity="S1", severity_reason="CEO")


# name → (how the case is made, whether it may be escalated to an executive now)
CASES: dict[str, tuple[Callable[..., Incident], bool]] = {
    "flag_off": (_flag_off, False),
    "no_rung": (_no_rung, False),
    "at_the_rung": (_at_the_rung, False),
    "pending": (_pending, False),
    "drill": (_drill, True),
    "closed": (_closed, False),
    "may_ask": (_may_ask, True),
}


def _asked(client: Client, incident: Incident) -> bool:
    """Whether the web door accepted the request (rolled back afterwards)."""
    accepted = {}

    class Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            before = ExecutiveEscalationRequest.objects.filter(incident=incident).count()
            counts = row_counts()
            response = client.post(reverse("escalations:case-executive", args=[incident.pk]), {"reason": "Needed"})
            made = ExecutiveEscalationRequest.objects.filter(incident=incident).count() > before
            # A refusal writes nothing at all; an acceptance writes the request.
            assert made or row_counts() == counts
            accepted["value"] = made and response.status_code == 302
            raise Rollback
    except Rollback:
        pass
    return accepted["value"]


@pytest.mark.parametrize("name", list(CASES))
def test_the_page_offers_an_executive_exactly_when_the_service_accepts(
    name, make_incident, team, agent, duty_manager, manager, now, on_call_executive, clock
):
    build, expected = CASES[name]
    # Every case is the agent's team's, so the agent may change each: access is not the question.
    incident = build(functools.partial(make_incident, team=team), agent=agent, duty_manager=duty_manager,
                     manager=manager, now=now)  # fmt: skip
    client = Client()
    client.force_login(agent)
    page = client.get(reverse("escalations:case-detail", args=[incident.pk])).content.decode()
    shown = BUTTON in page
    allowed, why = executive_availability(Incident.objects.get(pk=incident.pk))

    assert _asked(client, incident) == shown, f"{name}: the page and the service disagree"
    assert allowed == shown == expected, name
    if not allowed:
        # Where the button would be, the page says why.
        assert 'id="executive-unavailable"' in page and why and why.split(":")[0] in page.replace("&#x27;", "'")
