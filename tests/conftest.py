"""Shared fixtures: the playbook defaults, named personas (one per role plus an
outsider), reference data, and ``make_incident`` which opens cases through the service
layer so tests exercise the real path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.client import MULTIPART_CONTENT

from escalations.models import Channel
from escalations.security import roles
from escalations.services import incident_create
from escalations.services.common import reset_system_user_cache
from escalations.services.playbook import playbook_load
from tests.factories import CustomerFactory, TeamFactory, UserFactory

# A fixed Friday morning, inside London business hours, far from DST changes.
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # The default PBKDF2 hasher costs ~0.6 s per test user; tests do not need its strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _forms_carry_their_token(monkeypatch):
    """Every workspace form renders a one-time token ({% form_token %}) and a browser
    sends it back; the test client does the same for a form POST that names none. A test
    about the token passes ``form_token`` itself ("" for none)."""
    original = Client.post

    def post(self, path, data=None, content_type=MULTIPART_CONTENT, *args, **kwargs):
        if (
            content_type == MULTIPART_CONTENT
            and not str(path).startswith("/api/")
            and (data is None or isinstance(data, dict))
            and "form_token" not in (data or {})
        ):
            data = {**(data or {}), "form_token": str(uuid.uuid4())}
        return original(self, path, data, content_type, *args, **kwargs)

    monkeypatch.setattr(Client, "post", post)


@pytest.fixture(autouse=True)
def _fresh_system_user():
    # Transactional tests flush the database; the cached system user would go stale.
    reset_system_user_cache()
    yield
    reset_system_user_cache()


@pytest.fixture
def playbook(db):
    playbook_load()


@pytest.fixture
def now():
    return T0


def _persona(username: str, *groups: str, staff: bool = False):
    user = UserFactory(username=username, roles=list(groups), is_staff=staff)
    # Fresh instance: permission caches must not predate the group membership.
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def agent(playbook):
    return _persona("alice_agent", roles.CS_AGENTS)


@pytest.fixture
def other_agent(playbook):
    return _persona("bob_agent", roles.CS_AGENTS)


@pytest.fixture
def duty_manager(playbook):
    return _persona("dana_dm", roles.DUTY_MANAGERS)


@pytest.fixture
def engineer(playbook):
    return _persona("erin_engineer", roles.ENGINEERS)


@pytest.fixture
def manager(playbook):
    return _persona("mia_manager", roles.MANAGERS, staff=True)


@pytest.fixture
def policy_admin(playbook):
    return _persona("pat_policy", roles.POLICY_ADMINS, staff=True)


@pytest.fixture
def outsider(playbook):
    return _persona("oscar_outsider")


@pytest.fixture
def integration(playbook):
    return _persona("ivy_integration", roles.INTEGRATIONS)


@pytest.fixture
def personas(agent, duty_manager, engineer, manager, policy_admin, outsider):
    return {
        "agent": agent,
        "duty_manager": duty_manager,
        "engineer": engineer,
        "manager": manager,
        "policy_admin": policy_admin,
        "outsider": outsider,
    }


@pytest.fixture
def customer(db):
    return CustomerFactory(name="Acme Corp")


@pytest.fixture
def team(db, agent, other_agent):
    return TeamFactory(name="Support EMEA", slug="support-emea", members=[agent, other_agent])


@pytest.fixture
def email_channel(playbook):
    return Channel.objects.get(slug="email")


@pytest.fixture
def unagreed_channel(playbook):
    return Channel.objects.get(slug="account-manager")


@pytest.fixture
def make_incident(agent, customer, email_channel, now):
    """Open a case through the intake service. Defaults: an S2 ($50k ARR at risk) on the
    agreed email channel, reported at ``now`` by the agent."""

    def make(**overrides):
        values = {
            "actor": agent,
            "title": "Checkout failing for EU users",
            "customer": customer,
            "channel": email_channel,
            "now": now,
            "arr_at_risk": 60000,
        }
        values.update(overrides)
        return incident_create(**values)

    return make
