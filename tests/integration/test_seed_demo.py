"""seed_demo: idempotent demo data built through the services, refused outside development."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from escalations.choices import HandoffStatus, Status
from escalations.management.demo import USERS
from escalations.management.demo_cases import CASES
from escalations.models import CaseEvent, HandoffPacket, Incident, Shift, Team
from escalations.security import roles


def row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


@pytest.mark.django_db
def test_seed_demo_is_idempotent_with_users_per_role_and_cases_built_through_the_services(settings):
    settings.DEBUG = False  # --force is what lets it run here
    out = StringIO()
    call_command("seed_demo", force=True, stdout=out)
    assert "agent-demo-pass" in out.getvalue()  # the credentials are printed
    first = row_counts()
    call_command("seed_demo", force=True, stdout=StringIO())
    assert row_counts() == first

    demo = Incident.objects.filter(external_id__startswith="demo-")
    assert demo.count() == len(CASES) >= 20
    for incident in demo:
        history = list(incident.history.all())
        assert history, incident
        assert all(row.history_user_id is not None for row in history), incident
        assert CaseEvent.objects.filter(incident=incident, kind="created").exists()
    # The realistic mix the demo promises.
    assert {"S1", "S2", "S3"} <= set(demo.values_list("severity", flat=True))
    statuses = set(demo.values_list("status", flat=True))
    assert {Status.NEW, Status.ACKNOWLEDGED, Status.WAITING_ON_CUSTOMER, Status.RESOLVED, Status.CLOSED} <= statuses
    assert demo.filter(reopen_count=1, status=Status.INVESTIGATING).exists()
    assert demo.filter(is_drill=True).count() == 1
    assert demo.filter(customer_updates__isnull=False).distinct().count() >= 10
    handoffs = HandoffPacket.objects.filter(incident__in=demo)
    assert handoffs.filter(status=HandoffStatus.OFFERED).exists()
    assert handoffs.filter(status=HandoffStatus.ACCEPTED).exists()
    assert demo.filter(clock_started_at__isnull=True).exists()  # raised on a channel that is not agreed

    User = get_user_model()
    for spec in USERS:
        user = User.objects.get(username=spec.username)
        assert user.check_password(spec.password)
        if spec.superuser:
            assert user.is_superuser and user.is_staff
            continue
        assert list(user.groups.values_list("name", flat=True)) == [spec.group]
        assert user.is_staff == (spec.group in roles.STAFF_ROLES)
        assert user.profile.timezone == spec.timezone
    for role in set(roles.ROLE_PERMISSIONS) - {roles.INTEGRATIONS}:  # integrations: `integration_create`
        assert User.objects.filter(groups__name=role).exists(), role
    assert Team.objects.filter(name__in=["Support EMEA", "Support Americas", "Platform Engineering"]).count() == 3
    assert Team.objects.get(slug="support-emea").webhook_url == ""
    assert Shift.objects.filter(user__username="dm", role="duty_manager").exists()


@pytest.mark.django_db
def test_seed_demo_refuses_outside_development(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="development"):
        call_command("seed_demo")
    assert not get_user_model().objects.filter(username="agent").exists()
