"""The breach engine with real parts: a Celery worker and beat (subprocesses) on a
private redis-server, PostgreSQL, and a local HTTP receiver as the team's chat webhook.
A case created overdue must be escalated and its webhook delivered within a bound."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from escalations.choices import NotificationChannel, NotificationStatus
from escalations.models import Breach, Escalation, Notification, SweepHeartbeat
from tests.engine_support import (  # noqa: F401
    celery_procs_fixture,
    private_redis_fixture,
    receiver_fixture,
    require_redis,
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


@pytest.fixture(autouse=True)
def _needs_real_parts():
    require_redis("real Celery worker and beat")


@pytest.mark.timeout(120)
def test_overdue_case_is_escalated_and_its_webhook_delivered_by_worker_and_beat(
    celery_procs, receiver, make_incident, team, duty_manager
):
    now = timezone.now()
    team.webhook_url = receiver.url
    team.save()
    roster(now=now, team=team, duty_manager=duty_manager)
    procs = celery_procs(**FAST)
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
    assert all(verify_signature(r) for r in receiver.accepted())
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
