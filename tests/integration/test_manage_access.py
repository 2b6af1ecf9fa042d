"""The managers' side is for Duty Managers and Managers: everyone else gets a 404 on
every page of it (the pages are not advertised), and the navigation links to it only
for them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from escalations.choices import HandoffStatus
from tests.handoffs_support import hand_built_handoff

pytestmark = pytest.mark.django_db


@pytest.fixture
def a_handoff(make_incident, agent, other_agent, now):
    return hand_built_handoff(
        make_incident(),
        from_user=agent,
        to_user=other_agent,
        offered_at=now,
        status=HandoffStatus.ACCEPTED,
        answered_after=timedelta(minutes=5),
    )


# Every GET page of the managers' side; each module adds its own. The arguments are a
# tuple, or a function of ``getfixturevalue`` for pages about one object.
MANAGER_PAGES = [
    ("escalations:manage", ()),
    ("escalations:manage-handoffs", ()),
    ("escalations:manage-review", ()),
    ("escalations:manage-handoffs-csv", ()),
    ("escalations:manage-handoff-quality", ()),
    ("escalations:manage-handoff-quality-csv", ()),
    ("escalations:manage-handoff", lambda fixture: (fixture("a_handoff").pk,)),
    ("escalations:manage-case-handoffs", lambda fixture: (fixture("a_handoff").incident_id,)),
    ("escalations:manage-case-audit", lambda fixture: (fixture("a_handoff").incident_id,)),
    ("escalations:manage-rcas", ()),
    ("escalations:manage-approvals", ()),
    ("escalations:manage-breaches", ()),
]

SEES = {"duty_manager", "manager"}


@pytest.mark.parametrize("name,args", MANAGER_PAGES)
def test_only_duty_managers_and_managers_open_the_managers_pages(request, client, personas, name, args):
    if callable(args):
        args = args(request.getfixturevalue)
    for role, user in personas.items():
        client.force_login(user)
        response = client.get(reverse(name, args=args))
        expected = 200 if role in SEES else 404
        assert response.status_code == expected, (role, name, response.status_code)


def test_the_review_link_shows_only_for_those_who_may_open_it(client, personas):
    for role, user in personas.items():
        client.force_login(user)
        body = client.get(reverse("escalations:profile")).content.decode()
        assert (reverse("escalations:manage") in body) == (role in SEES), role
