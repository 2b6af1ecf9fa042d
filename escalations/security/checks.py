"""Deployment checks of our own, run by ``manage.py check --deploy``."""

from __future__ import annotations

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.caches, deploy=True)
def shared_cache_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith(("LocMemCache", "DummyCache")):
        return [
            checks.Warning(
                "The cache is per process, so each web process applies the API throttles (per user, intake, auth) "
                "on its own and the real limits are multiplied by the number of processes.",
                hint="Set CACHE_URL to a Redis database (apart from the Celery broker's).",
                id="escalations.W001",
            )
        ]
    return []
