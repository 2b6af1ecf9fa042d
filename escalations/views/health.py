"""/healthz: is the database reachable, are the broker and the cache, and is the breach
sweep alive?

Monitoring polls the full check: HTTP 503 with ``"status": "broker unreachable"`` while
the Celery broker cannot be reached (deliveries wait; the beat sweeps from the database),
``"cache unreachable"`` while the shared cache cannot (the API throttles are open),
``"stale"`` when the sweep is (no heartbeat newer than SWEEP_STALE_AFTER_SECONDS, or cases
left overdue for the sweep longer than that). The body reports every part whatever the
status. A load balancer that should only know whether this web process can serve uses
``/healthz?check=db`` — a dead beat or broker must page someone, not take the web site
down.
"""

from __future__ import annotations

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app
from escalations.lib.outages import CACHE
from escalations.services.engine.health import sweep_status

# A probe waits at most this for the broker: monitors time out too.
BROKER_PROBE_TIMEOUT_SECONDS = 1.0


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return JsonResponse({"status": "error", "database": f"unreachable: {type(exc).__name__}"}, status=503)
    if request.GET.get("check") == "db":
        return JsonResponse({"status": "ok", "database": "ok"})
    broker = broker_check()
    cache = cache_check()
    sweep = sweep_status(now=timezone.now())
    if broker != "ok":
        status = "broker unreachable"
    elif cache != "ok":
        status = "cache unreachable"
    else:
        status = "ok" if sweep["ok"] else "stale"
    body = {"status": status, "database": "ok", "broker": broker, "cache": cache, "sweep": sweep}
    return JsonResponse(body, status=200 if status == "ok" else 503)


def broker_check() -> str:
    """``ok``, or ``unreachable: <error>``: one connection attempt, no retry."""
    try:
        with celery_app.connection_for_write(connect_timeout=BROKER_PROBE_TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=0, timeout=BROKER_PROBE_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 — whatever the transport raises, the answer is "unreachable"
        return f"unreachable: {type(exc).__name__}: {exc}"[:300]
    return "ok"


def cache_check() -> str:
    """``ok``, or ``unreachable: <error>`` (one read; what the throttles would meet)."""
    try:
        caches[DEFAULT_CACHE_ALIAS].get("healthz-probe")
    except Exception as exc:  # noqa: BLE001 — any cache error
        CACHE.failed(exc)
        return f"unreachable: {type(exc).__name__}: {exc}"[:300]
    CACHE.succeeded()
    return "ok"


urlpatterns = [path("healthz", healthz, name="healthz")]
