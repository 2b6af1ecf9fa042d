"""/healthz: is the database reachable and is the breach sweep alive?

Monitoring polls the full check (HTTP 503 when the sweep is stale: no heartbeat newer
than SWEEP_STALE_AFTER_SECONDS, or cases left overdue for the sweep longer than that).
A load balancer that should only know whether this web process can serve uses
``/healthz?check=db`` — a dead beat must page someone, not take the web site down.
"""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from escalations.services.sweep import sweep_status


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
    sweep = sweep_status(now=timezone.now())
    ok = sweep["ok"]
    return JsonResponse(
        {"status": "ok" if ok else "stale", "database": "ok", "sweep": sweep}, status=200 if ok else 503
    )


urlpatterns = [path("healthz", healthz, name="healthz")]
