"""Typed environment readers. Every environment variable is read here, once, and
fails fast on a bad value (Healthchecks' envbool/envint, HackSoft's config/env.py)."""

from __future__ import annotations

import os


class ImproperEnv(ValueError):
    pass


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value in (None, "") else value


def require_secret_key() -> None:
    """Called by the long-running processes (web, worker, beat): refuse to start without
    SECRET_KEY rather than fail on the first request or task that signs something."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.SECRET_KEY  # noqa: B018 — Django raises here for an empty key
    except ImproperlyConfigured as exc:
        raise ImproperEnv("SECRET_KEY must be set when DEBUG is off (see README, Configuration)") from exc


def require_servers() -> None:
    """Called by the long-running processes with require_secret_key: production names its
    database and broker (development and tests fall back to the embedded ones)."""
    from django.conf import settings

    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not getattr(settings, name)]
    if missing:
        raise ImproperEnv(f"{' and '.join(missing)} must be set when DEBUG is off (see README, Configuration)")


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperEnv(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperEnv(f"{name} must be an integer, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperEnv(f"{name} must be a number, got {value!r}") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = os.environ.get(name)
    if value in (None, ""):
        return list(default or [])
    return [part.strip() for part in value.split(",") if part.strip()]
