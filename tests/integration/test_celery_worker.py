"""The breach engine with real parts: a Celery worker and beat (subprocesses) on a
private redis-server, PostgreSQL, and a local HTTP receiver as the team's chat webhook.
A case created overdue must be escalated and its webhook delivered within a bound."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from escalations.choices import NotificationChannel, NotificationStatus
from escalations.models import Breach, Escalation, Incident, Notification, SweepHeartbeat
from escalations.tasks import sweep_breaches
from tests.engine_support import (  # noqa: F401
    celery_procs_fixture,
    private_redis_fixture,
    receiver_fixture,
    redis_cache_url,
    roster,
    verify_signature,
    wait_until,
    webhook_payloads,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker, pytest.mark.slow]

FAST = {
    "SWEEP_INTERVAL_SECONDS": "1",
    "NOTIFICATION_RETRY_INTERVAL_SECONDS": "1",
    "NOTIFICATION_FIRST_RETRY_SECONDS": "2",
    "NOTIFICATION_BACKOFF_BASE_SECONDS": "1",
    "NOTIFICATION_BACKOFF_MAX_SECONDS": "2",
}


@pytest.mark.timeout(120)
def test_overdue_case_is_escalated_and_its_webhook_delivered_by_worker_and_beat(
    celery_procs, receiver, make_incident, team, duty_manager
):
    now = timezone.now()
    team.webhook_url = receiver.url
    team.save()
    roster(now=now, team=team, duty_manager=duty_manager)
    # The receiver is on loopback: allowed for these workers only, the rule stays on.
    procs = celery_procs(**FAST, WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    procs.worker()
    procs.beat()
    started = time.monotonic()
    incident = make_incident(team=team, now=now, reported_at=now - timedelta(minutes=31))

    def delivered():
        return [p for p in webhook_payloads(receiver) if p["kind"] == "escalation"]

    try:
        [payload] = wait_until(delivered, timeout=45, what="the escalation webhook")
    except AssertionError:
        print(procs.logs())
        raise
    elapsed = time.monotonic() - started
    assert elapsed < 45
    assert payload["incident"]["id"] == incident.pk and "Escalated to level 1" in payload["text"]
    assert all(verify_signature(r, team.webhook_secret) for r in receiver.accepted())
    assert Breach.objects.filter(incident=incident, kind="ack").count() == 1
    assert Escalation.objects.get(incident=incident).level == 1
    # The receiver has the POST before the worker reads the response and records it.
    hook = Notification.objects.get(incident=incident, channel=NotificationChannel.WEBHOOK)
    wait_until(
        lambda: Notification.objects.filter(pk=hook.pk, status=NotificationStatus.SENT).exists(),
        timeout=15,
        what="the webhook notification marked sent",
    )
    # The page written at intake is delivered by the worker too (published after commit).
    wait_until(
        lambda: not Notification.objects.filter(incident=incident, status=NotificationStatus.PENDING).exists(),
        timeout=30,
        what="every notification delivered",
    )
    assert SweepHeartbeat.objects.filter(source="beat").exists()
    # Some more sweeps: still exactly one of each.
    beats = SweepHeartbeat.objects.count()
    wait_until(lambda: SweepHeartbeat.objects.count() >= beats + 2, timeout=20, what="two more sweeps")
    assert Breach.objects.filter(incident=incident).count() == 1
    assert len(delivered()) == 1


@pytest.mark.timeout(150)
def test_a_known_deadline_wakes_the_sweep_long_before_the_next_beat(
    celery_procs, private_redis, make_incident, team, duty_manager
):
    """With a 60 s beat only a wake-up can be in time: the sweep before a deadline has
    Celery run one more at that deadline, and that one schedules the next (a chain)."""
    roster(now=timezone.now(), team=team, duty_manager=duty_manager)
    # The wake-up claims go through a shared Redis cache, as in production (CACHE_URL).
    procs = celery_procs(**{**FAST, "SWEEP_INTERVAL_SECONDS": "60", "CACHE_URL": redis_cache_url(private_redis)})
    procs.worker()
    procs.beat()  # its first sweep is one interval after it starts: not within this test
    # In production the previous beat's sweep starts the chain; here a sweep we send does.
    sweep_breaches.delay()
    try:
        wait_until(SweepHeartbeat.objects.exists, timeout=60, what="the worker's first sweep")
        start = timezone.now()
        leads = (timedelta(seconds=4), timedelta(seconds=7))
        cases = [
            make_incident(team=team, now=start, reported_at=start - timedelta(minutes=30) + lead) for lead in leads
        ]
        sweep_breaches.delay()  # the sweep that sees them coming (the beat's, in production)
        for incident in cases:
            due = Incident.objects.get(pk=incident.pk).ack_due_at
            escalation = wait_until(
                lambda incident=incident: Escalation.objects.filter(incident=incident, level=1).first(),
                timeout=30,
                what=f"the escalation of the case due at {due:%H:%M:%S.%f}",
            )
            # Escalation.created_at is the sweep's ``now``, as is its heartbeat's start.
            assert due <= escalation.created_at <= due + timedelta(seconds=3), (due, escalation.created_at)
            # The sweep commits its batches before it writes its heartbeat: wait for it.
            sweep = wait_until(
                lambda at=escalation.created_at: SweepHeartbeat.objects.filter(started_at=at).first(),
                timeout=15,
                what="the heartbeat of the sweep that escalated it",
            )
            assert sweep.source == "wakeup" and sweep.breaches >= 1
    except AssertionError:
        print(procs.logs())
        raise
    # One wake-up per deadline: the second sweep we sent and the first wake-up both saw
    # the next deadline, and the claim let only one of them schedule it; none re-woke itself.
    time.sleep(2)
    assert SweepHeartbeat.objects.filter(source="wakeup").count() == len(cases)
