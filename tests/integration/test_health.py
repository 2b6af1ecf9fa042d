"""/healthz names what is down: the broker, the cache (a private redis-server for each,
stopped by the test), or the sweep. ``?check=db`` ignores all three."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone

from escalations.lib.outages import CACHE
from escalations.services.engine.sweep import sweep_run
from tests.engine_support import (  # noqa: F401
    RedisServer,
    private_redis_fixture,
    redis_cache_url,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_sweep(playbook) -> Iterator[None]:
    sweep_run(now=timezone.now(), source="test")
    CACHE.reset()
    yield
    CACHE.reset()


def test_all_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["broker"], body["cache"], body["sweep"]["ok"]) == ("ok", "ok", "ok", True)


def test_broker_unreachable_while_it_is(private_redis, client):
    assert client.get("/healthz").status_code == 200
    private_redis.stop()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "broker unreachable" and body["broker"].startswith("unreachable: ")
    assert body["sweep"]["ok"] and body["database"] == "ok"  # the rest is still reported
    assert client.get("/healthz?check=db").status_code == 200  # load balancers keep the site
    private_redis.start()
    assert client.get("/healthz").json()["status"] == "ok"


def test_cache_unreachable_while_it_is(client, settings):
    server = RedisServer()
    server.start()
    try:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_cache_url(server),
                "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            }
        }
        assert client.get("/healthz").status_code == 200
        server.stop()
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["status"] == "cache unreachable"
        assert response.json()["cache"].startswith("unreachable: ")
        server.start()
        assert client.get("/healthz").status_code == 200
    finally:
        server.cleanup()


def test_stale_sweep_is_still_reported(client, settings):
    settings.SWEEP_STALE_AFTER_SECONDS = 0
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "stale"


def test_a_failing_probe_is_logged_as_a_warning_not_an_error(client, settings, caplog):
    settings.SWEEP_STALE_AFTER_SECONDS = 0
    with caplog.at_level("INFO", logger="django.request"):
        assert client.get("/healthz").status_code == 503
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records and {r.levelname for r in records} == {"WARNING"}
