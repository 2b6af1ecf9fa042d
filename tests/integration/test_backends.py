"""RoleBackend gives exactly ModelBackend's permissions, in one query."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission

from escalations.security.backends import RoleBackend

pytestmark = pytest.mark.django_db
User = get_user_model()


def fresh(user):
    return User.objects.get(pk=user.pk)  # no permission cache


def test_same_permissions_as_model_backend(personas, agent, outsider, django_assert_num_queries):
    direct = Permission.objects.get(content_type__app_label="escalations", codename="approve_escalation")
    agent.user_permissions.add(direct)  # one of its own, beside its group's
    admin = User.objects.create_superuser("root-test", password="x")
    inactive = User.objects.create_user("gone", is_active=False)
    for user in [*personas.values(), agent, outsider, admin, inactive]:
        expected = ModelBackend().get_all_permissions(fresh(user))
        user = fresh(user)
        with django_assert_num_queries(1 if user.is_active else 0):
            assert RoleBackend().get_all_permissions(user) == expected
        with django_assert_num_queries(0):  # cached on the user for the rest of the request
            RoleBackend().get_all_permissions(user)
    assert "escalations.approve_escalation" in RoleBackend().get_all_permissions(fresh(agent))
    assert RoleBackend().get_all_permissions(fresh(outsider)) == set()


def test_is_the_configured_backend(agent):
    user = fresh(agent)
    assert user.has_perm("escalations.change_incident")
    assert not user.has_perm("escalations.change_severitypolicy")
