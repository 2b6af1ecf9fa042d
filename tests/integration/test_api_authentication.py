"""escalations.api.authentication.TokenAuthentication: knox's hashed, expiring token
check with the user's permissions read in the same statement. Same users, same
permissions, same refusals as knox's class and RoleBackend, in one query instead of
several."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions

from escalations.api.authentication import TokenAuthentication
from escalations.models import ApiToken
from escalations.security.backends import RoleBackend
from escalations.services.tokens import token_create
from tests.integration.api_support import client_for

pytestmark = pytest.mark.django_db

User = get_user_model()


def both(key: str):
    """(ours, knox's) answers for one key: (user, token) or the error raised."""
    answers = []
    for authenticate in (
        lambda: TokenAuthentication().authenticate_credentials(key),
        lambda: KnoxTokenAuthentication().authenticate_credentials(key.encode()),
    ):
        try:
            answers.append(authenticate())
        except exceptions.AuthenticationFailed as exc:
            answers.append(exc)
    return answers


@pytest.mark.parametrize("persona", ["agent", "duty_manager", "engineer", "manager", "policy_admin", "outsider"])
def test_same_user_token_and_permissions_as_knox_and_role_backend(request, persona):
    user = request.getfixturevalue(persona)
    # A permission of the user's own on top of the role's groups.
    user.user_permissions.add(Permission.objects.get(codename="view_customer"))
    token, key = token_create(user=user, actor=user)
    (ours, ours_token), (theirs, theirs_token) = both(key)
    assert ours == theirs and ours_token == theirs_token == token and ours_token.user is ours
    for field in User._meta.concrete_fields:
        assert getattr(ours, field.attname) == getattr(theirs, field.attname), field.name
    expected = RoleBackend().get_all_permissions(User.objects.get(pk=user.pk))
    assert "escalations.view_customer" in expected
    with CaptureQueriesContext(connection) as ctx:
        assert ours.get_all_permissions() == expected
    assert len(ctx.captured_queries) == 0


def test_only_the_digest_is_stored(agent):
    token, key = token_create(user=agent, actor=agent)
    assert key not in (token.digest, token.token_key) and len(token.digest) == 128
    assert not ApiToken.objects.filter(digest=key).exists()


def test_refusals_are_knox_s(agent):
    _, key = token_create(user=agent, actor=agent)
    for bad in ("no-such-key", "x" * 64, key[:-1] + ("0" if key[-1] != "0" else "1"), "'; DROP TABLE auth_user; --"):
        ours, theirs = both(bad)
        assert isinstance(ours, exceptions.AuthenticationFailed) and str(ours.detail) == str(theirs.detail)
        assert str(ours.detail) == "Invalid token."
    User.objects.filter(pk=agent.pk).update(is_active=False)
    ours, theirs = both(key)
    assert isinstance(ours, exceptions.AuthenticationFailed) and str(ours.detail) == str(theirs.detail)
    assert str(ours.detail) == "User inactive or deleted."


def test_an_expired_token_is_refused_and_kept_out_of_the_way(agent):
    start = timezone.now()
    token, key = token_create(user=agent, actor=agent, ttl=timedelta(hours=1), now=start)
    with time_machine.travel(start + timedelta(minutes=59), tick=False):
        assert TokenAuthentication().authenticate_credentials(key)[1] == token
    with time_machine.travel(start + timedelta(hours=1, seconds=1), tick=False):
        with pytest.raises(exceptions.AuthenticationFailed, match="expired"):
            TokenAuthentication().authenticate_credentials(key)
        # The next token issued clears the dead one away.
        token_create(user=agent, actor=agent)
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_superusers_keep_every_permission(agent):
    User.objects.filter(pk=agent.pk).update(is_superuser=True)
    _, key = token_create(user=agent, actor=None)
    user, _ = TokenAuthentication().authenticate_credentials(key)
    assert user.has_perm("escalations.change_severitypolicy") and user.has_perm("auth.delete_user")


def test_a_request_authenticates_in_one_query(agent, make_incident):
    case = make_incident()
    client = client_for(agent)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/api/v1/incidents/{case.pk}/").status_code == 200
    # token, user and permissions; the case; its pauses (one more query off PostgreSQL).
    assert len(ctx.captured_queries) == 3
    assert client_for(None).get(f"/api/v1/incidents/{case.pk}/").status_code == 401
    bad = client_for(None)
    bad.credentials(HTTP_AUTHORIZATION="Token nope")
    response = bad.get(f"/api/v1/incidents/{case.pk}/")
    assert response.status_code == 401 and response.json()["error"]["message"] == "Invalid token."
