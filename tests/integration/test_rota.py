"""The shift rota page: Duty Managers see a week of shifts and cover or swap them; the
changes are audited; people without the permission get 403."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from escalations.models import Shift, ShiftRole
from tests.engine_support import shift

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen(time_machine, now):
    time_machine.move_to(now, tick=False)


def test_a_duty_manager_covers_and_swaps_shifts_and_history_names_them(
    client, duty_manager, agent, other_agent, team, now
):
    first = shift(agent, team, ShiftRole.DUTY_MANAGER, now)
    second = shift(other_agent, team, ShiftRole.COMMANDER, now)
    client.force_login(duty_manager)
    page = client.get(reverse("escalations:rota"))
    assert page.status_code == 200
    body = page.content.decode()
    assert f'id="shift-{first.pk}"' in body and "Alice_Agent" in body and "Shift rota" in body

    covered = client.post(reverse("escalations:rota-cover", args=[first.pk]), {"user": duty_manager.pk})
    assert covered.status_code == 302
    first.refresh_from_db()
    assert first.user == duty_manager
    assert first.history.latest().history_user == duty_manager

    swapped = client.post(reverse("escalations:rota-swap", args=[first.pk]), {"other": second.pk})
    assert swapped.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.user, second.user) == (other_agent, duty_manager)


def test_a_past_shift_is_a_record_not_a_plan(client, duty_manager, agent, other_agent, team, now):
    past = Shift.objects.create(
        team=team,
        user=agent,
        role=ShiftRole.ON_DUTY,
        starts_at=now - timedelta(hours=10),
        ends_at=now - timedelta(hours=2),
    )
    client.force_login(duty_manager)
    response = client.post(reverse("escalations:rota-cover", args=[past.pk]), {"user": other_agent.pk}, follow=True)
    assert "That shift is over" in response.content.decode()
    past.refresh_from_db()
    assert past.user == agent


def test_only_those_who_change_shifts_see_the_rota(client, agent, engineer, team, now):
    target = shift(agent, team, ShiftRole.ON_DUTY, now)
    for user in (agent, engineer):
        client.force_login(user)
        assert client.get(reverse("escalations:rota")).status_code == 403
        assert client.post(reverse("escalations:rota-cover", args=[target.pk]), {"user": user.pk}).status_code == 403
    target.refresh_from_db()
    assert target.user == agent
