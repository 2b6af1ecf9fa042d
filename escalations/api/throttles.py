"""API throttles: fixed-window counters in the shared cache, degrading when it is down.

Three rates (settings REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], README "Configuration"):

- ``user`` (UserThrottle, every endpoint by default): per user, reads and writes alike;
  anonymous callers per client address.
- ``intake`` (IntakeView): per integration, high, since monitoring bursts are legitimate.
- ``auth`` (TokenView): per client address, low, against password guessing.

The client address is REMOTE_ADDR unless BEHIND_TLS_PROXY, when it is taken from
X-Forwarded-For counting NUM_PROXIES trusted proxies from the right (DRF's
``NUM_PROXIES``). Anything else would let a client choose its own address, and so a fresh
counter per request, by sending a new X-Forwarded-For each time.

No request fails because the cache is down (``outages.CACHE``): the intake and user
throttles let requests through, and the auth throttle counts in this process's memory
instead (a password guesser then gets the rate once per web process, not unlimited).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from escalations.lib.outages import CACHE

# Counters kept by this process while the shared cache is down (the auth scope only).
_LOCAL = LocMemCache("escalations-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})


class ScopedThrottle(ScopedRateThrottle):
    """Per-scope rate limits (``throttle_scope``; rates read from settings when asked, so a
    test's override applies), counted in fixed windows: one atomic counter per client and
    window in the cache (shared Redis in production: CACHE_URL), O(1) per request. DRF's
    own throttle keeps every request's timestamp in one cache entry and rewrites it on
    each request, which at intake rates (thousands a minute) costs more than the request.
    A fixed window lets a client burst up to twice the rate across a window boundary."""

    # Scopes counted in this process while the shared cache is down; the others are open.
    count_locally_when_cache_down: ClassVar[frozenset[str]] = frozenset({"auth"})

    def get_rate(self) -> str | None:
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            raise ImproperlyConfigured(f"No throttle rate for scope {self.scope!r}") from None

    def scope_for(self, view: Any) -> str | None:
        return getattr(view, self.scope_attr, None)

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = self.scope_for(view)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        key, timeout = f"{self.key}:{window}", self.duration + 1
        count = _count_shared(key, timeout=timeout)
        if count is None:  # the cache is down
            if self.scope not in self.count_locally_when_cache_down:
                return True
            count = _count(_LOCAL, key, timeout=timeout)
        return count <= self.num_requests

    def wait(self) -> float:
        return max(self.window_ends - self.now, 1.0)


class UserThrottle(ScopedThrottle):
    """The general limit on every endpoint: per user (anonymous: per client address), the
    ``user`` rate. Views with a scope of their own (intake, token) replace it. A settings
    dict without a ``user`` rate means no general limit."""

    def scope_for(self, view: Any) -> str | None:
        return "user"

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


def _count_shared(key: str, *, timeout: int) -> int | None:
    """The window's count with this request in it, from the shared cache; None when the
    cache is down (or was a moment ago: see outages.CACHE)."""
    if CACHE.holding_off():
        return None
    try:
        count = _count(caches[DEFAULT_CACHE_ALIAS], key, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 — any cache error (redis, socket, timeout) must not fail the request
        CACHE.failed(exc)
        return None
    CACHE.succeeded()
    return count


def _count(backend: Any, key: str, *, timeout: int) -> int:
    """Add the window's key, then increment it: two round trips on Redis, through the
    cache's public API."""
    backend.add(key, 0, timeout=timeout)
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.add(key, 1, timeout=timeout)
        return 1


__all__ = ["ScopedThrottle", "UserThrottle"]
