"""The API throttles (escalations/api/throttles.py): the general per-user limit on every
endpoint, the client address behind proxies, and degrading, never failing, while the
shared cache is down (a private redis-server that the test stops)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from escalations.api import throttles
from escalations.lib.outages import CACHE
from tests.engine_support import RedisServer, redis_cache_url
from tests.integration.api_support import _api_test_env, assert_error, client_for, clock

__all__ = ["_api_test_env", "clock"]

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
INTAKE = "/api/v1/intake/"
LIST = "/api/v1/incidents/"


def rates(settings, **scopes: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "1000/min", "intake": "1000/min", "auth": "1000/min", **scopes},
    }


def guess(client: APIClient, **extra: str):
    return client.post(TOKEN, {"username": "x", "password": "y"}, format="json", **extra)


@pytest.fixture(autouse=True)
def _cache_seen_up() -> Iterator[None]:
    CACHE.reset()
    throttles._LOCAL.clear()
    yield
    CACHE.reset()
    throttles._LOCAL.clear()


# --- the general per-user limit --------------------------------------------------------


def test_every_endpoint_is_limited_per_user_reads_and_writes_alike(agent, other_agent, make_incident, settings, clock):
    rates(settings, user="3/min")
    incident = make_incident()
    mine = client_for(agent)
    assert mine.get(LIST).status_code == 200
    assert mine.get(f"{LIST}{incident.pk}/").status_code == 200
    update = mine.post(f"{LIST}{incident.pk}/updates/", {"body": "On it"}, format="json")
    assert update.status_code == 201, update.content
    refused = assert_error(mine.get(LIST), 429, code="throttled")
    assert refused["code"] == "throttled"
    assert_error(mine.post(f"{LIST}{incident.pk}/updates/", {"body": "Again"}, format="json"), 429)
    # Another person has a counter of their own.
    assert client_for(other_agent).get(LIST).status_code == 200


def test_intake_and_token_endpoints_keep_their_own_rates(agent, settings, clock):
    rates(settings, user="1/min", auth="3/min")
    client = APIClient()
    for _ in range(3):  # more than the user rate: the token endpoint counts only "auth"
        assert guess(client).status_code == 400
    assert_error(guess(client), 429, code="throttled")


# --- the client address -----------------------------------------------------------------


def test_a_new_x_forwarded_for_per_request_does_not_reset_the_count(playbook, settings, clock):
    """Not behind a proxy: the address is REMOTE_ADDR, whatever X-Forwarded-For says."""
    rates(settings, auth="2/min")
    client = APIClient()
    for i in range(2):
        assert guess(client, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code == 400
    assert_error(guess(client, HTTP_X_FORWARDED_FOR="203.0.113.99"), 429, code="throttled")


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(playbook, settings, clock):
    """NUM_PROXIES=1: the right-most X-Forwarded-For entry, which our proxy appended; what
    the client wrote to its left is ignored."""
    rates(settings, auth="2/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = APIClient()
    for forged in ("1.1.1.1", "2.2.2.2"):
        assert guess(client, HTTP_X_FORWARDED_FOR=f"{forged}, 198.51.100.7").status_code == 400
    assert_error(guess(client, HTTP_X_FORWARDED_FOR="3.3.3.3, 198.51.100.7"), 429, code="throttled")
    # A different client behind the same proxy (same REMOTE_ADDR) has its own count.
    assert guess(client, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 400


def test_num_proxies_follows_behind_tls_proxy():
    import os
    import subprocess
    import sys

    script = (
        "import django; django.setup(); from django.conf import settings; print(settings.REST_FRAMEWORK['NUM_PROXIES'])"  # noqa: E501
    )

    def num_proxies(**env: str) -> str:
        environ = {k: v for k, v in os.environ.items() if k not in ("BEHIND_TLS_PROXY", "NUM_PROXIES")}
        return subprocess.run(
            [sys.executable, "-c", script],
            env={**environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert num_proxies() == "0"
    assert num_proxies(BEHIND_TLS_PROXY="1") == "1"
    assert num_proxies(BEHIND_TLS_PROXY="1", NUM_PROXIES="2") == "2"
    assert num_proxies(NUM_PROXIES="2") == "0"  # without a proxy nothing in the header is trusted


# --- the cache down ---------------------------------------------------------------------


@pytest.fixture
def redis_cache(settings) -> Iterator[RedisServer]:
    """The default cache on a private redis-server the test may stop."""
    server = RedisServer()
    server.start()
    previous = settings.CACHES
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_cache_url(server),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    yield server
    settings.CACHES = previous  # before the server goes: other teardowns clear the cache
    server.cleanup()


def test_with_the_cache_down_requests_go_through_and_failures_are_logged_once(
    agent, customer, playbook, settings, clock, redis_cache, caplog
):
    rates(settings, user="2/min", intake="2/min", auth="2/min")
    out = StringIO()
    call_command("integration_create", "monitoring-bot", stdout=out, stderr=StringIO())
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    staff = client_for(agent)
    redis_cache.stop()
    caplog.set_level(logging.WARNING, logger="escalations.lib.outages")
    signal = {"title": "Error rate > 5 %", "customer": customer.pk, "channel": "monitoring", "users_affected_pct": "12"}
    for i in range(5):  # over every rate: the intake and user throttles are open
        response = bot.post(INTAKE, {**signal, "external_id": f"down-{i}"}, format="json")
        assert response.status_code == 201, response.content
        assert staff.get(LIST).status_code == 200
    # The token endpoint counts in this process instead: still limited, never a 500.
    assert [guess(APIClient()).status_code for _ in range(3)] == [400, 400, 429]
    # Counted per call, logged once for the whole minute.
    reports = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(reports) == 1, [r.getMessage() for r in caplog.records]
    assert CACHE.down and CACHE.degraded_total >= 13

    redis_cache.start()  # back: used again once the 2 s hold-off has passed
    time.sleep(CACHE.hold_off + 0.1)
    assert staff.get(LIST).status_code == 200
    assert not CACHE.down
    assert any("reachable again" in r.getMessage() for r in caplog.records)
