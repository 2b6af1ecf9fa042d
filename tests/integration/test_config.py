"""config.env.require_secret_key: the web, worker and beat processes refuse to start
without SECRET_KEY, while settings still load for commands that sign nothing."""

from __future__ import annotations

import pytest

from config.env import ImproperEnv, require_secret_key, require_servers


def test_long_running_processes_refuse_an_empty_secret_key(settings):
    settings.SECRET_KEY = ""
    with pytest.raises(ImproperEnv, match="SECRET_KEY must be set"):
        require_secret_key()


def test_long_running_processes_refuse_to_start_without_their_servers(settings):
    settings.REDIS_URL = ""
    with pytest.raises(ImproperEnv, match="REDIS_URL must be set"):
        require_servers()
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    require_servers()


def test_production_settings_load_without_servers_for_makemigrations_check():
    """DEBUG and TESTING off, no DATABASE_URL/REDIS_URL: settings load (no server is
    started) and makemigrations --check runs on Django's dummy backend."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "TESTING")}
    done = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        env={**env, "VAR_DIR": "/nonexistent/never-created"}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "No changes detected" in done.stdout


def test_a_set_secret_key_passes(settings):
    settings.SECRET_KEY = "a-real-key"
    require_secret_key()


def test_cache_url_gives_every_process_one_shared_cache():
    """With CACHE_URL, separate processes (separate interpreters here) count in one
    cache, so the API throttles, which keep their counters there, hold across web
    processes."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    redis_url = settings.REDIS_URL
    cache_url = redis_url.rsplit("/", 1)[0] + "/13"  # its own database: it empties it
    script = (
        "import django; django.setup()\n"
        "from django.core.cache import cache\n"
        "from django.conf import settings\n"
        "assert settings.CACHES['default']['BACKEND'].endswith('RedisCache')\n"
        "cache.get_or_set('shared-count', 0); cache.incr('shared-count'); print(cache.get('shared-count'))\n"
    )
    env = {**os.environ, "CACHE_URL": cache_url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    import redis

    redis.Redis.from_url(cache_url).flushdb()
    try:
        seen = [
            subprocess.run(
                [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, timeout=60
            ).stdout.strip()
            for _ in range(2)
        ]
    finally:
        redis.Redis.from_url(cache_url).flushdb()
    assert seen == ["1", "2"]


def test_deploy_check_warns_about_a_per_process_cache(settings):
    from escalations.security.checks import shared_cache_check

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert [m.id for m in shared_cache_check(None)] == ["escalations.W001"]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/1"}
    }
    assert shared_cache_check(None) == []
