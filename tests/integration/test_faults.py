"""Faults, each with nothing lost and nothing duplicated:

- the broker down while cases become overdue and staff keep saving;
- a worker killed with SIGKILL in the middle of a sweep;
- several sweeps at once over thousands of due cases (threads), and two beats;
- the webhook receiver down, then back.

They use a private redis-server on a free port (the shared one is never touched), real
worker/beat subprocesses and the test PostgreSQL database."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from escalations.choices import EventKind, NotificationChannel, NotificationStatus
from escalations.models import Breach, CaseEvent, Escalation, Incident, Notification, SweepHeartbeat
from escalations.services import customer_update_post, incident_acknowledge
from escalations.services.engine.sweep import sweep_run
from escalations.tasks import sweep_breaches
from tests.engine_support import (  # noqa: F401
    Receiver,
    bulk_due_cases,
    celery_procs_fixture,
    free_port,
    private_redis_fixture,
    roster,
    wait_until,
    webhook_payloads,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAST = {
    "SWEEP_INTERVAL_SECONDS": "1",
    "NOTIFICATION_RETRY_INTERVAL_SECONDS": "1",
    "NOTIFICATION_FIRST_RETRY_SECONDS": "2",
    "NOTIFICATION_BACKOFF_BASE_SECONDS": "1",
    "NOTIFICATION_BACKOFF_MAX_SECONDS": "2",
}
# The local receiver listens on loopback, which webhooks may reach only when an operator
# allows it; the workers are told so, the rule itself stays on.
LOCAL_RECEIVER = {"WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}


def assert_each_breached_once(incident_ids: list[int], *, kind: str = "ack") -> None:
    """Nothing lost (every case breached and escalated) and nothing duplicated (one
    breach, one level-1 escalation, one breach event and one escalation event each)."""
    ids = set(incident_ids)
    breaches = Counter(Breach.objects.filter(incident_id__in=ids, kind=kind).values_list("incident_id", flat=True))
    assert set(breaches) == ids, f"{len(ids - set(breaches))} case(s) never breached"
    assert max(breaches.values()) == 1
    levels = Counter(Escalation.objects.filter(incident_id__in=ids).values_list("incident_id", "level"))
    assert set(levels) == {(pk, 1) for pk in ids} and max(levels.values()) == 1
    for event in (EventKind.BREACHED, EventKind.ESCALATED):
        counts = Counter(
            CaseEvent.objects.filter(incident_id__in=ids, kind=event).values_list("incident_id", flat=True)
        )
        assert set(counts) == ids and max(counts.values()) == 1, f"{event} events duplicated or missing"
    assert set(Incident.objects.filter(pk__in=ids).values_list("escalation_level", flat=True)) == {1}


@pytest.mark.celery_worker
@pytest.mark.timeout(180)
def test_broker_down_while_cases_become_overdue_and_staff_keep_saving(
    private_redis, celery_procs, make_incident, team, duty_manager, agent, customer, email_channel, settings
):
    # This process is "the web": rows it writes while the broker is down wait this long
    # for the retry pass (the workers get the same value through FAST).
    settings.NOTIFICATION_FIRST_RETRY_SECONDS = 2
    receiver = Receiver()
    try:
        now = timezone.now()
        team.webhook_url = receiver.url
        team.save()
        roster(now=now, team=team, duty_manager=duty_manager)
        worked = make_incident(team=team, now=now, title="Being worked")
        procs = celery_procs(**FAST, **LOCAL_RECEIVER)
        procs.worker()
        procs.beat()
        wait_until(lambda: SweepHeartbeat.objects.exists(), timeout=30, what="the first beat sweep")

        private_redis.stop()  # the broker goes down
        slowest = 0.0
        overdue = []
        for i in range(8):
            # Cases whose acknowledge deadline passes a few seconds from now, during the outage.
            at = timezone.now()
            started = time.monotonic()
            overdue.append(make_incident(team=team, now=at, reported_at=at - timedelta(minutes=30) + timedelta(seconds=3),
                                         title=f"Outage case {i}").pk)  # fmt: skip
            slowest = max(slowest, time.monotonic() - started)
        started = time.monotonic()
        customer_update_post(incident=worked, body="Still on it", channel=None, actor=agent, now=timezone.now())
        incident_acknowledge(incident=worked, actor=agent, now=timezone.now())
        slowest = max(slowest, time.monotonic() - started)
        # The first write pays one failed connection attempt; the next ones skip
        # publishing while the broker is known to be down (escalations.lib.outages.BROKER).
        assert slowest < 5, f"a web write took {slowest:.1f} s with the broker down"
        time.sleep(5)  # deadlines pass while the broker is still down
        # The beat, unable to publish the sweep, runs it itself: breaches are on time and
        # only the deliveries wait for the broker.
        wait_until(
            lambda: Breach.objects.filter(incident_id__in=overdue).count() == len(overdue),
            timeout=10,
            what="the beat's own sweep to record the breaches during the outage",
        )
        assert SweepHeartbeat.objects.filter(source="beat-inline").exists()

        private_redis.start()  # the broker is back (empty: whatever was queued is gone)
        try:
            wait_until(
                lambda: (
                    Breach.objects.filter(incident_id__in=overdue).count() == len(overdue)
                    and not Notification.objects.filter(
                        incident_id__in=overdue, status=NotificationStatus.PENDING
                    ).exists()
                ),
                timeout=90,
                what="every overdue case escalated and notified after the outage",
            )
        except AssertionError:
            print(procs.logs())
            raise
        time.sleep(3)  # a few more sweeps and retry passes: still nothing duplicated
        assert_each_breached_once(overdue)
        keys = [p["notification"]["idempotency_key"] for p in webhook_payloads(receiver) if p["kind"] == "escalation"]
        assert len(keys) == len(set(keys)) == len(overdue)
        assert not Notification.objects.filter(status=NotificationStatus.FAILED).exists()
    finally:
        receiver.close()


@pytest.mark.celery_worker
@pytest.mark.timeout(180)
def test_worker_killed_mid_sweep_loses_and_duplicates_nothing(
    celery_procs, team, duty_manager, customer, email_channel
):
    now = timezone.now()
    roster(now=now, team=team, duty_manager=duty_manager)
    ids = bulk_due_cases(
        1500, customer=customer, channel=email_channel, now=now, overdue=timedelta(minutes=31), team=team
    )
    procs = celery_procs(**{**FAST, "SWEEP_BATCH_SIZE": "10"})
    worker = procs.worker(name="doomed")
    sweep_breaches.apply_async()
    wait_until(lambda: Breach.objects.filter(incident_id__in=ids).exists(), timeout=60, what="the sweep to start")
    procs.kill(worker)  # SIGKILL to its process group, in the middle of the sweep
    killed_at = Breach.objects.filter(incident_id__in=ids).count()
    assert 0 < killed_at < len(ids), "the sweep finished before the kill; the test proves nothing"

    procs.worker(name="survivor")
    procs.beat()
    wait_until(
        lambda: Breach.objects.filter(incident_id__in=ids).count() == len(ids),
        timeout=120,
        what="the remaining cases swept",
    )
    time.sleep(2)
    assert_each_breached_once(ids)
    assert not Incident.objects.filter(pk__in=ids, next_check_at__lte=now).exists()


def test_concurrent_sweeps_over_thousands_of_due_cases(team, duty_manager, customer, email_channel):
    now = timezone.now()
    roster(now=now, team=team, duty_manager=duty_manager)
    ids = bulk_due_cases(
        3000, customer=customer, channel=email_channel, now=now, overdue=timedelta(minutes=31), team=team
    )

    def sweep(_):
        try:
            return sweep_run(now=now, source="test", batch_size=50).breaches
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(sweep, range(4)))
    assert sum(found) == len(ids), found  # each case taken by exactly one sweep
    assert sum(1 for n in found if n) >= 2, f"the sweeps did not overlap: {found}"
    assert_each_breached_once(ids)
    per_case = Counter(Notification.objects.filter(incident_id__in=ids).values_list("incident_id", flat=True))
    assert set(per_case.values()) == {2}  # the duty manager: in-app and email, once


@pytest.mark.celery_worker
@pytest.mark.timeout(180)
def test_two_beats_and_two_workers_escalate_once(celery_procs, team, duty_manager, customer, email_channel):
    now = timezone.now()
    roster(now=now, team=team, duty_manager=duty_manager)
    procs = celery_procs(**{**FAST, "SWEEP_BATCH_SIZE": "50"})
    for name in ("a", "b"):
        procs.worker(name=name)
        procs.beat()
    wait_until(lambda: SweepHeartbeat.objects.count() >= 2, timeout=30, what="the beats to start sweeping")
    ids = bulk_due_cases(
        1000, customer=customer, channel=email_channel, now=now, overdue=timedelta(minutes=31), team=team
    )
    wait_until(
        lambda: Breach.objects.filter(incident_id__in=ids).count() == len(ids),
        timeout=90,
        what="every case swept",
    )
    beats = SweepHeartbeat.objects.count()
    wait_until(lambda: SweepHeartbeat.objects.count() >= beats + 4, timeout=30, what="more overlapping sweeps")
    assert_each_breached_once(ids)


@pytest.mark.celery_worker
@pytest.mark.timeout(180)
def test_webhook_receiver_down_then_back(celery_procs, make_incident, team, duty_manager):
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"  # nothing listens yet: the receiver is down
    now = timezone.now()
    team.webhook_url = url
    team.save()
    roster(now=now, team=team, duty_manager=duty_manager)
    procs = celery_procs(**FAST, **LOCAL_RECEIVER)
    procs.worker()
    procs.beat()
    incident = make_incident(team=team, now=now, reported_at=now - timedelta(minutes=31))

    def hook():
        return Notification.objects.filter(incident=incident, channel=NotificationChannel.WEBHOOK).first()

    wait_until(lambda: hook() and hook().attempts >= 2, timeout=60, what="failed webhook attempts")
    down = hook()
    assert down.status == NotificationStatus.PENDING and "could not connect to 127.0.0.1" in down.last_error
    receiver = Receiver(port=port)  # back
    try:
        wait_until(
            lambda: hook().status == NotificationStatus.SENT, timeout=60, what="delivery after the receiver returns"
        )
        time.sleep(3)
        sent = [p for p in webhook_payloads(receiver) if p["notification"]["idempotency_key"] == down.idempotency_key]
        assert len(sent) == 1
        assert hook().attempts >= 3 and Breach.objects.filter(incident=incident).count() == 1
    finally:
        receiver.close()
