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
from escalations.services.review_weeks import review_weeks_keep
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


def send_due(now: datetime) -> int:
    """The two beat tasks at ``now``: the weeks are kept, then the digest checked."""
    review_weeks_keep(now=now)
    return digest_send_due(now=now, actor=system_user())


def sent_to() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


@pytest.mark.django_db
def test_each_manager_gets_it_at_0800_in_their_own_zone_once(managers):
    actor = system_user()
    assert send_due(MONDAY_8_LONDON - timedelta(minutes=1)) == 0
    assert mail.outbox == []

    assert send_due(MONDAY_8_LONDON) == 1
    assert sent_to() == ["lena_london@example.com"]
    assert send_due(MONDAY_8_LONDON + timedelta(minutes=15)) == 0

    assert send_due(MONDAY_8_NEW_YORK) == 1
    assert sent_to() == ["lena_london@example.com", "nate_newyork@example.com"]
    # Later in the week nobody gets a second one; the next week everyone gets the next.
    assert send_due(MONDAY_8_NEW_YORK + timedelta(days=3)) == 0
    assert send_due(MONDAY_8_NEW_YORK + timedelta(days=7)) == 2
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
    send_due(MONDAY_8_LONDON)
    (message,) = mail.outbox
    assert message.subject == "Weekly escalation review 2026-W47"
    link = "https://esc.example.com/manage/review/?week=2026-W47"
    assert link in message.body and "Breaches: 0" in message.body and "Executive interrupts: 0" in message.body
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
    send_due(MONDAY_8_LONDON + timedelta(days=7))
    message = mail.outbox[0]
    assert "Overdue root cause analyses: 1" in message.body and "Payments <down>" in message.body
    assert "Alert on EU routes" in message.body
    html = message.alternatives[0][0]
    assert "Payments &lt;down&gt;" in html and f"/cases/{incident.pk}/rca/" in html


@pytest.mark.django_db
def test_a_second_delivery_of_the_same_week_sends_nothing(managers):
    user = managers["london"]
    review_weeks_keep(now=MONDAY_8_LONDON)
    content = digest_content(now=MONDAY_8_LONDON)
    actor = system_user()
    assert digest_deliver(user=user, week="2026-W48", content=content, now=MONDAY_8_LONDON, actor=actor)
    assert not digest_deliver(user=user, week="2026-W48", content=content, now=MONDAY_8_LONDON, actor=actor)
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_send_it_once(managers):
    actor = system_user()
    review_weeks_keep(now=MONDAY_8_NEW_YORK)
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
    assert send_due(MONDAY_8_LONDON) == 0
    assert send_due(datetime(2026, 11, 25, 17, tzinfo=UTC)) == 1
    schedule.enabled = False
    audited_save(schedule, actor=actor)
    assert send_due(datetime(2026, 12, 2, 17, tzinfo=UTC)) == 0
    assert DigestSchedule.objects.get().history.count() == 3


@pytest.mark.django_db
def test_duty_managers_get_it_only_when_the_schedule_says_so(managers, duty_manager):
    actor = system_user()
    send_due(MONDAY_8_NEW_YORK)
    assert "dana_dm@example.com" not in sent_to()
    schedule = digest_schedule_get(actor=actor)
    schedule.include_duty_managers = True
    audited_save(schedule, actor=actor)
    send_due(MONDAY_8_NEW_YORK + timedelta(minutes=15))
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
    assert tasks.keep_review_weeks() == 13
    assert tasks.send_weekly_digest() == 1
    assert tasks.send_weekly_digest() == 0
    assert sent_to() == ["lena_london@example.com"]


@pytest.mark.django_db
def test_the_digest_waits_for_the_week_to_be_kept(managers, monkeypatch):
    """A slot in the minutes after Monday 00:00 UTC: the week just ended is not kept yet,
    so nothing is sent (and nothing is computed here); the check after the beat kept it
    sends the week's figures."""
    asked = []
    monkeypatch.setattr("escalations.services.digest.review_weeks_hurry", asked.append)
    schedule = digest_schedule_get(actor=system_user())
    schedule.hour = 0
    audited_save(schedule, actor=system_user())
    midnight = datetime(2026, 11, 23, 0, 0, 30, tzinfo=UTC)  # 00:00 in London: the slot
    assert digest_send_due(now=midnight, actor=system_user()) == 0
    assert mail.outbox == [] and not DigestDelivery.objects.exists()
    assert [[w.label for w in weeks] for weeks in asked] == [["2026-W47"]]
    # Both Managers' slots have come (New York's on its Sunday evening, local time).
    assert send_due(midnight + timedelta(minutes=15)) == 2
    assert {m.subject for m in mail.outbox} == {"Weekly escalation review 2026-W47"}
