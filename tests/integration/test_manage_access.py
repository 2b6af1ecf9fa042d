"""The managers' side is for Duty Managers and Managers: everyone else gets a 404 on
every page of it (the pages are not advertised), and the navigation links to it only
for them."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

# Every GET page of the managers' side; each module adds its own.
MANAGER_PAGES = [
    ("escalations:manage", ()),
]

SEES = {"duty_manager", "manager"}


@pytest.mark.parametrize("name,args", MANAGER_PAGES)
def test_only_duty_managers_and_managers_open_the_managers_pages(client, personas, name, args):
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
