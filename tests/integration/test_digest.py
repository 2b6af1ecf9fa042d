"""The weekly digest: sent at the schedule's slot in each Manager's own zone, once per
week even when two workers race, HTML with a plain-text part, the last complete week's
figures, the overdue RCAs and action items, and a link to the review page."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection

from escalations.models import DigestDelivery, DigestSchedule, Postmortem, PostmortemActionItem, StaffProfile
from escalations.security import roles
from escalations.services.common import audited_create, audited_save, system_user
from escalations.services.digest import digest_content, digest_deliver, digest_schedule_get, digest_send_due
from escalations.services.incidents import incident_resolve
from tests.checklists_support import complete_checklist
from tests.factories import UserFactory

# Monday 23 November 2026, ISO week 48: 08:00 in London is 08:00 UTC (winter); in New
# York it is 03:00.
MONDAY_8_LONDON = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
MONDAY_8_NEW_YORK = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def person(username: str, zone: str, *groups: str):
    user = UserFactory(username=username, roles=list(groups))
    audited_create(StaffProfile, history_user=user, user=user, timezone=zone)
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def managers(playbook, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://esc.example.com"
    return {
        "london": person("lena_london", "Europe/London", roles.MANAGERS),
        "new_york": person("nate_newyork", "America/New_York", roles.MANAGERS),
    }


def sent_to() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


@pytest.mark.django_db
def test_each_manager_gets_it_at_0800_in_their_own_zone_once(managers):
    actor = system_user()
    assert digest_send_due(now=MONDAY_8_LONDON - timedelta(minutes=1), actor=actor) == 0
    assert mail.outbox == []

    assert digest_send_due(now=MONDAY_8_LONDON, actor=actor) == 1
    assert sent_to() == ["lena_london@example.com"]
    assert digest_send_due(now=MONDAY_8_LONDON + timedelta(minutes=15), actor=actor) == 0

    assert digest_send_due(now=MONDAY_8_NEW_YORK, actor=actor) == 1
    assert sent_to() == ["lena_london@example.com", "nate_newyork@example.com"]
    # Later in the week nobody gets a second one; the next week everyone gets the next.
    assert digest_send_due(now=MONDAY_8_NEW_YORK + timedelta(days=3), actor=actor) == 0
    assert digest_send_due(now=MONDAY_8_NEW_YORK + timedelta(days=7), actor=actor) == 2
    weeks = sorted(DigestDelivery.objects.values_list("user__username", "week", "reported_week"))
    assert weeks == [
        ("lena_london", "2026-W48", "2026-W47"),
        ("lena_london", "2026-W49", "2026-W48"),
        ("nate_newyork", "2026-W48", "2026-W47"),
        ("nate_newyork", "2026-W49", "2026-W48"),
    ]
    assert DigestDelivery.objects.first().history.get().history_user == actor


@pytest.mark.django_db
def test_the_email_has_html_and_text_parts_the_figures_and_the_review_link(managers):
    digest_send_due(now=MONDAY_8_LONDON, actor=system_user())
    (message,) = mail.outbox
    assert message.subject == "Weekly escalation review 2026-W47"
    link = "https://esc.example.com/manage/review/?week=2026-W47"
    assert link in message.body and "Breaches: 0" in message.body and "Executive escalations: 0" in message.body
    (html, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    assert f'href="{link}"' in html and "Time to acknowledge" in html and "<table" in html


@pytest.mark.django_db
def test_the_digest_lists_overdue_rcas_and_action_items(managers, make_incident, agent, engineer, now):
    incident = make_incident(title="Payments <down>")
    complete_checklist(incident, agent, now)
    incident_resolve(incident=incident.pk, resolution="Fixed", actor=agent, now=now)
    rca = Postmortem.objects.get(incident=incident)
    audited_create(
        PostmortemActionItem,
        history_user=agent,
        postmortem=rca,
        description="Alert on EU routes",
        owner=engineer,
        due_date=date(2026, 11, 20),
    )
    # Due Friday 27 November: overdue at the next Monday's digest.
    digest_send_due(now=MONDAY_8_LONDON + timedelta(days=7), actor=system_user())
    message = mail.outbox[0]
    assert "Overdue root cause analyses: 1" in message.body and "Payments <down>" in message.body
    assert "Alert on EU routes" in message.body
    html = message.alternatives[0][0]
    assert "Payments &lt;down&gt;" in html and f"/cases/{incident.pk}/rca/" in html


@pytest.mark.django_db
def test_a_second_delivery_of_the_same_week_sends_nothing(managers):
    user = managers["london"]
    content = digest_content(now=MONDAY_8_LONDON)
    actor = system_user()
    assert digest_deliver(user=user, week="2026-W48", content=content, now=MONDAY_8_LONDON, actor=actor)
    assert not digest_deliver(user=user, week="2026-W48", content=content, now=MONDAY_8_LONDON, actor=actor)
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_send_it_once(managers):
    actor = system_user()
    start = threading.Barrier(2)
    results: list[int] = []

    def worker():
        try:
            start.wait()
            results.append(digest_send_due(now=MONDAY_8_NEW_YORK, actor=actor))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 2
    assert sent_to() == ["lena_london@example.com", "nate_newyork@example.com"]
    assert DigestDelivery.objects.count() == 2


@pytest.mark.django_db
def test_the_schedule_is_editable_and_can_be_switched_off(managers):
    actor = system_user()
    schedule = digest_schedule_get(actor=actor)
    assert (schedule.enabled, schedule.weekday, schedule.hour, schedule.minute) == (True, 0, 8, 0)
    schedule.weekday, schedule.hour = 2, 17
    audited_save(schedule, actor=actor)
    assert digest_send_due(now=MONDAY_8_LONDON, actor=actor) == 0
    assert digest_send_due(now=datetime(2026, 11, 25, 17, tzinfo=UTC), actor=actor) == 1
    schedule.enabled = False
    audited_save(schedule, actor=actor)
    assert digest_send_due(now=datetime(2026, 12, 2, 17, tzinfo=UTC), actor=actor) == 0
    assert DigestSchedule.objects.get().history.count() == 3


@pytest.mark.django_db
def test_duty_managers_get_it_only_when_the_schedule_says_so(managers, duty_manager):
    actor = system_user()
    digest_send_due(now=MONDAY_8_NEW_YORK, actor=actor)
    assert "dana_dm@example.com" not in sent_to()
    schedule = digest_schedule_get(actor=actor)
    schedule.include_duty_managers = True
    audited_save(schedule, actor=actor)
    digest_send_due(now=MONDAY_8_NEW_YORK + timedelta(minutes=15), actor=actor)
    assert sent_to().count("dana_dm@example.com") == 1


@pytest.mark.django_db
def test_the_schedule_is_edited_in_the_admin_with_its_history(client, managers, manager, policy_admin):
    """Managers (who receive the digest) set its schedule; nobody else on staff does."""
    client.force_login(policy_admin)
    assert client.get("/admin/escalations/digestschedule/add/").status_code == 403
    admin_user = manager
    client.force_login(admin_user)
    assert client.get("/admin/escalations/digestschedule/add/").status_code == 200
    data = {"enabled": "on", "weekday": "4", "hour": "9", "minute": "30"}
    assert client.post("/admin/escalations/digestschedule/add/", data).status_code == 302
    schedule = DigestSchedule.objects.get()
    assert (schedule.pk, schedule.weekday, schedule.hour, schedule.minute) == (1, 4, 9, 30)
    assert schedule.history.get().history_user == admin_user
    assert client.get("/admin/escalations/digestschedule/add/").status_code == 403
    bad = client.post(f"/admin/escalations/digestschedule/{schedule.pk}/change/", {**data, "hour": "25"})
    assert bad.status_code == 200 and DigestSchedule.objects.get().hour == 9


@pytest.mark.django_db
def test_the_beat_task_sends_what_is_due_now(managers, time_machine):
    from escalations import tasks

    time_machine.move_to(MONDAY_8_LONDON, tick=False)
    assert tasks.send_weekly_digest() == 1
    assert tasks.send_weekly_digest() == 0
    assert sent_to() == ["lena_london@example.com"]
