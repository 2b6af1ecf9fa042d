"""escalations.api.authentication.TokenAuthentication: DRF's token check with the
user's permissions read in the same statement. Same users, same permissions, same
refusals as DRF's class and RoleBackend, in one query instead of two."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import authentication as drf_authentication
from rest_framework import exceptions
from rest_framework.authtoken.models import Token

from escalations.api.authentication import TokenAuthentication
from escalations.backends import RoleBackend
from escalations.db import fast_reads
from tests.integration.api_support import client_for

pytestmark = pytest.mark.django_db

User = get_user_model()


def both(key: str):
    """(ours, DRF's) answers for one key: (user, token) or the error raised."""
    answers = []
    for cls in (TokenAuthentication, drf_authentication.TokenAuthentication):
        try:
            answers.append(cls().authenticate_credentials(key))
        except exceptions.AuthenticationFailed as exc:
            answers.append(exc)
    return answers


@pytest.mark.parametrize("persona", ["agent", "duty_manager", "engineer", "manager", "policy_admin", "outsider"])
def test_same_user_token_and_permissions_as_drf_and_role_backend(request, persona):
    user = request.getfixturevalue(persona)
    # A permission of the user's own on top of the role's groups.
    user.user_permissions.add(Permission.objects.get(codename="view_customer"))
    token = Token.objects.create(user=user)
    (ours, ours_token), (theirs, theirs_token) = both(token.key)
    assert ours == theirs and ours_token == theirs_token and ours_token.user is ours
    for field in User._meta.concrete_fields:
        assert getattr(ours, field.attname) == getattr(theirs, field.attname), field.name
    expected = RoleBackend().get_all_permissions(User.objects.get(pk=user.pk))
    assert "escalations.view_customer" in expected
    with CaptureQueriesContext(connection) as ctx:
        assert ours.get_all_permissions() == expected
    assert len(ctx.captured_queries) == (0 if fast_reads() else 1)


def test_refusals_are_drf_s(agent, manager):
    token = Token.objects.create(user=agent)
    for key in ("no-such-key", "", "x" * 40, "'; DROP TABLE authtoken_token; --"):
        ours, theirs = both(key)
        assert isinstance(ours, exceptions.AuthenticationFailed) and str(ours.detail) == str(theirs.detail)
    User.objects.filter(pk=agent.pk).update(is_active=False)
    ours, theirs = both(token.key)
    assert isinstance(ours, exceptions.AuthenticationFailed) and str(ours.detail) == str(theirs.detail)
    assert str(ours.detail) == "User inactive or deleted."


def test_superusers_keep_every_permission(agent):
    User.objects.filter(pk=agent.pk).update(is_superuser=True)
    token = Token.objects.create(user=agent)
    user, _ = TokenAuthentication().authenticate_credentials(token.key)
    assert user.has_perm("escalations.change_severitypolicy") and user.has_perm("auth.delete_user")


def test_a_request_authenticates_in_one_query(agent, make_incident):
    case = make_incident()
    client = client_for(agent)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/api/v1/incidents/{case.pk}/").status_code == 200
    # token, user and permissions; the case; its pauses (one more query off PostgreSQL).
    assert len(ctx.captured_queries) == (3 if fast_reads() else 4)
    assert client_for(None).get(f"/api/v1/incidents/{case.pk}/").status_code == 401
    bad = client_for(None)
    bad.credentials(HTTP_AUTHORIZATION="Token nope")
    response = bad.get(f"/api/v1/incidents/{case.pk}/")
    assert response.status_code == 401 and response.json()["error"]["message"] == "Invalid token."
