"""Redis (broker and cache) down for one minute, then for five, while deadlines pass.

THE LONG ONE: about seven minutes of wall time, because the outages are real (60 s and
300 s). Both run in one test, sharing the worker, the beat and the private redis-server;
the sweep interval is shortened to INTERVAL seconds through the processes' environment.

During each outage an integration keeps posting intake signals, staff keep posting
customer updates and reading lists, and a monitor polls /healthz, all through the real
request stack (the throttles count in the private Redis, as production's CACHE_URL).
It proves: no request fails; /healthz says "broker unreachable" (503) while it is; the
beat sweeps from the database, so each of the 200 cases whose deadline falls inside the
outage is breached and escalated on time, once; the worker's consumer is back within two
intervals of Redis's return; every notification is delivered afterwards, once.

Figures (printed; recorded in docs/performance.md):

    pytest tests/integration/test_broker_outage.py -s
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import F, Max
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from escalations.choices import NotificationChannel, NotificationStatus
from escalations.models import Breach, Escalation, Incident, Notification, SweepHeartbeat
from tests.engine_support import (  # noqa: F401
    Receiver,
    bulk_due_cases,
    celery_procs_fixture,
    private_redis_fixture,
    redis_cache_url,
    roster,
    wait_until,
    webhook_payloads,
)
from tests.integration.api_support import client_for
from tests.integration.test_faults import assert_each_breached_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.celery_worker]

OUTAGES = (60, 300)  # seconds: real lengths, as in the incident
CASES = 200  # per outage, deadlines spread across it
INTERVAL = 3  # SWEEP_INTERVAL_SECONDS of the worker and the beat
PROCS_ENV = {
    "SWEEP_INTERVAL_SECONDS": str(INTERVAL),
    "NOTIFICATION_RETRY_INTERVAL_SECONDS": "2",
    "NOTIFICATION_FIRST_RETRY_SECONDS": "2",
    "NOTIFICATION_BACKOFF_BASE_SECONDS": "1",
    "NOTIFICATION_BACKOFF_MAX_SECONDS": "2",
    "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
}


class Traffic:
    """Request loops in threads until stopped: every response recorded (status, seconds),
    any exception counted as a failure."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.results: list[tuple[str, int, float, float]] = []  # (what, status, at, seconds)
        self.errors: list[str] = []
        self.threads: list[threading.Thread] = []

    def loop(self, what: str, every: float, request: Any) -> None:
        def run() -> None:
            try:
                while not self.stop.is_set():
                    started = time.monotonic()
                    try:
                        status = request().status_code
                    except Exception as exc:  # noqa: BLE001 — a failed request, recorded as such
                        status = -1
                        with self.lock:
                            self.errors.append(f"{what}: {type(exc).__name__}: {exc}")
                    with self.lock:
                        self.results.append((what, status, time.time(), time.monotonic() - started))
                    self.stop.wait(every)
            finally:
                connection.close()

        thread = threading.Thread(target=run, name=what, daemon=True)
        thread.start()
        self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def due_cases(*, start: datetime, seconds: float, customer, channel, team) -> list[int]:
    """CASES S2 cases whose acknowledge deadline (30 min after report) falls between
    ``start`` + 2 s and ``start`` + ``seconds`` − 2 s, evenly, five per instant."""
    ids: list[int] = []
    instants = CASES // 5
    for i in range(instants):
        due = start + timedelta(seconds=2 + (seconds - 4) * i / (instants - 1))
        ids += bulk_due_cases(5, customer=customer, channel=channel, now=due, overdue=timedelta(minutes=30), team=team)
    return ids


@pytest.mark.timeout(900)
def test_redis_down_one_minute_then_five_while_deadlines_pass(
    private_redis, celery_procs, make_incident, team, duty_manager, agent, customer, email_channel, settings
):
    cache_url = redis_cache_url(private_redis)
    # This process is the web: its throttles count in the private Redis, as in production.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": cache_url,
            "KEY_PREFIX": "esc",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    settings.NOTIFICATION_FIRST_RETRY_SECONDS = 2
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    receiver = Receiver()
    figures: list[dict] = []
    try:
        team.webhook_url = receiver.url
        team.save()
        roster(now=timezone.now(), team=team, duty_manager=duty_manager)
        worked = [make_incident(team=team, now=timezone.now(), title=f"Being worked {i}").pk for i in range(3)]
        out = StringIO()
        call_command("integration_create", "monitoring-bot", stdout=out, stderr=StringIO())
        bot_token = out.getvalue().strip()

        procs = celery_procs(**PROCS_ENV, CACHE_URL=cache_url)
        procs.worker()
        procs.beat()
        wait_until(lambda: SweepHeartbeat.objects.exists(), timeout=60, what="the first beat sweep")

        for outage in OUTAGES:
            try:
                figures.append(
                    one_outage(
                        outage, private_redis=private_redis, bot_token=bot_token, agent=agent, worked=worked,
                        customer=customer, channel=email_channel, team=team, receiver=receiver,
                    )
                )  # fmt: skip
            except AssertionError:
                print(procs.logs())
                raise
    finally:
        receiver.close()
        print_figures(figures)


def one_outage(
    outage: int, *, private_redis, bot_token: str, agent, worked: list[int], customer, channel, team, receiver
) -> dict:
    stop_at = timezone.now() + timedelta(seconds=8)
    ids = due_cases(start=stop_at, seconds=outage, customer=customer, channel=channel, team=team)
    # Their 75 % warnings are already due: let the worker send those before the outage.
    wait_until(
        lambda: not Incident.objects.filter(pk__in=ids, next_check_at__lt=F("ack_due_at")).exists(),
        timeout=60,
        what="the warnings swept before the outage",
    )
    time.sleep(max((stop_at - timezone.now()).total_seconds(), 0))

    traffic = Traffic()
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Token {bot_token}")
    staff = client_for(agent)
    reader = client_for(agent)
    monitor = Client()

    def intake() -> Any:
        signal = {"title": "Error rate > 5 %", "customer": customer.pk, "channel": "monitoring",
                  "external_id": uuid.uuid4().hex, "users_affected_pct": "12"}  # fmt: skip
        return bot.post("/api/v1/intake/", signal, format="json")

    def update() -> Any:
        pk = worked[int(time.time()) % len(worked)]
        return staff.post(f"/api/v1/incidents/{pk}/updates/", {"body": "Still on it"}, format="json")

    healthz: list[tuple[float, int, str]] = []

    def probe() -> Any:
        response = monitor.get("/healthz")
        healthz.append((time.time(), response.status_code, response.json()["status"]))
        return response

    private_redis.stop()  # broker and cache go down
    stopped = time.time()
    traffic.loop("intake", 0.5, intake)
    traffic.loop("staff update", 1.0, update)
    traffic.loop("staff list", 1.0, lambda: reader.get("/api/v1/incidents/?page_size=20"))
    traffic.loop("healthz", 1.0, probe)
    time.sleep(max(stopped + outage - time.time(), 0))
    restarting = time.time()  # probes answered after this may already see Redis up
    private_redis.start()
    back = time.time()
    back_at = timezone.now()
    time.sleep(INTERVAL * 2 + 2)  # traffic on, across the return
    traffic.finish()
    traffic_ended_at = timezone.now()

    def caught_up() -> bool:
        breached = Breach.objects.filter(incident_id__in=ids).count()
        # What was written until now; the S1 cases intake opened keep breaching later.
        pending = Notification.objects.filter(status=NotificationStatus.PENDING, created_at__lte=traffic_ended_at)
        progress.update(breached=f"{breached}/{len(ids)}", pending=pending.count())
        return breached == len(ids) and progress["pending"] == 0

    progress: dict = {}
    try:
        # Deliveries that failed during the outage wait out their backoff before the retry
        # pass takes them again; the case escalations themselves are checked on time below.
        wait_until(caught_up, timeout=300, what="every case escalated and every notification delivered")
    except AssertionError as exc:
        raise AssertionError(f"{exc} after the {outage} s outage: {progress}") from None
    delivered_after = time.time() - back
    time.sleep(INTERVAL)  # a few more sweeps and retry passes: still nothing duplicated

    # No request failed; writes went through.
    failures = [r for r in traffic.results if r[1] == -1 or (r[0] != "healthz" and r[1] >= 500)]
    assert not failures and not traffic.errors, (failures[:5], traffic.errors[:5])
    by_kind = Counter((r[0], r[1]) for r in traffic.results)
    assert by_kind[("intake", 201)] > outage, by_kind
    assert not [r for r in traffic.results if r[0] != "healthz" and r[1] not in (200, 201)], by_kind
    slowest = max(r[3] for r in traffic.results if r[0] != "healthz")

    # /healthz named the broker while it was down (after the first probe), and recovered.
    during = [h for h in healthz if stopped + 2 < h[0] < restarting]
    assert during and all(h[1] == 503 and h[2] == "broker unreachable" for h in during), during[:5]
    wait_until(lambda: Client().get("/healthz").status_code == 200, timeout=30, what="/healthz back to 200")

    # Every case breached and escalated once; on time, by the beat's own sweeps.
    assert_each_breached_once(ids)
    late = [
        (b.detected_at - b.due_at).total_seconds()
        for b in Breach.objects.filter(incident_id__in=ids).only("detected_at", "due_at")
    ]
    assert max(late) <= 2 * INTERVAL + 1, f"a breach was recorded {max(late):.1f} s after its deadline"
    inline = SweepHeartbeat.objects.filter(source="beat-inline", started_at__gte=back_at - timedelta(seconds=outage))
    assert inline.exists(), "the beat never swept by itself during the outage"

    # The worker's consumer is back within two intervals of Redis's return.
    first = (
        SweepHeartbeat.objects.filter(source__in=("beat", "wakeup"), started_at__gt=back_at)
        .order_by("started_at")
        .first()
    )
    assert first is not None
    consumer_back = (first.started_at - back_at).total_seconds()
    assert consumer_back <= 2 * INTERVAL, f"the worker swept again only {consumer_back:.1f} s after Redis returned"

    # Every notification delivered afterwards, once: one escalation webhook per case.
    assert not Notification.objects.filter(status=NotificationStatus.FAILED).exists()
    keys = [
        p["notification"]["idempotency_key"]
        for p in webhook_payloads(receiver)
        if p["kind"] == "escalation" and p["incident"]["id"] in set(ids)
    ]
    assert len(keys) == len(set(keys)) == len(ids)
    escalated_at = Escalation.objects.filter(incident_id__in=ids).aggregate(last=Max("created_at"))["last"]
    waited = Notification.objects.filter(
        created_at__gte=back_at - timedelta(seconds=outage),
        created_at__lte=back_at,
        channel__in=(NotificationChannel.EMAIL, NotificationChannel.WEBHOOK),
    ).count()
    return {
        "outage_s": outage,
        "cases": len(ids),
        "requests": sum(n for (what, _), n in by_kind.items() if what != "healthz"),
        "intake_201": by_kind[("intake", 201)],
        "failed": len(failures),
        "slowest_request_s": round(slowest, 2),
        "breach_late_max_s": round(max(late), 1),
        "breach_late_mean_s": round(sum(late) / len(late), 1),
        "inline_sweeps": inline.count(),
        "last_escalation_vs_return_s": round((escalated_at - back_at).total_seconds(), 1),
        "consumer_back_s": round(consumer_back, 1),
        "deliveries_waiting": waited,
        "all_delivered_after_s": round(delivered_after, 1),
        "healthz_503_samples": len(during),
    }


@pytest.mark.timeout(120)
def test_the_worker_survives_losing_the_broker_while_it_holds_a_message(private_redis, celery_procs, playbook):
    """A wake-up sweep waiting for its eta is a message the worker holds unacknowledged.
    Losing the broker then made Celery's clean-up raise and the worker exit; it must
    reconnect instead and run the next task."""
    from escalations.tasks import sweep_breaches

    procs = celery_procs(**PROCS_ENV)
    worker = procs.worker()
    sweep_breaches.apply_async()
    wait_until(lambda: SweepHeartbeat.objects.exists(), timeout=60, what="the worker's first sweep")
    held_until = timezone.now() + timedelta(minutes=5)
    sweep_breaches.apply_async(kwargs={"wake_at": held_until.isoformat()}, eta=held_until)
    time.sleep(2)  # the worker has taken it and holds it until its eta
    private_redis.stop()
    time.sleep(3)
    private_redis.start()
    back_at = timezone.now()
    sweep_breaches.apply_async()
    try:
        wait_until(
            lambda: SweepHeartbeat.objects.filter(started_at__gt=back_at).exists(),
            timeout=30,
            what="a sweep by the same worker after the broker's return",
        )
    except AssertionError:
        print(procs.logs())
        raise
    assert worker.poll() is None, "the worker exited"


@pytest.mark.timeout(120)
def test_a_beat_started_while_the_broker_is_down_sweeps_by_itself(private_redis, celery_procs, playbook):
    procs = celery_procs(**PROCS_ENV)
    private_redis.stop()
    procs.beat()
    try:
        wait_until(
            lambda: SweepHeartbeat.objects.filter(source="beat-inline").count() >= 2,
            timeout=60,
            what="the beat's own sweeps while the broker is down",
        )
    except AssertionError:
        print(procs.logs())
        raise


def print_figures(figures: list[dict]) -> None:
    if not figures:
        return
    keys = list(figures[0])
    print("\n| " + " | ".join(keys) + " |")
    print("|" + " --- |" * len(keys))
    for row in figures:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
