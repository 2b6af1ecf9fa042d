"""Degrading, not failing, while Redis is down.

Redis holds two things here, and neither may fail a request or stall the breach engine:

- the shared cache (CACHE_URL): API throttle counters and sweep wake-up claims. While it
  is unreachable the throttles let requests through (the auth throttle counts in this
  process instead) and the wake-ups wait for the beat.
- the Celery broker (REDIS_URL): deliveries are published after commit, best-effort; the
  beat runs the sweep in its own process when it cannot publish it (config/beat.py).

A dependency that is down fails every call, so logging each failure would write one line
per request. ``Outage`` counts the failures and logs once per LOG_EVERY_SECONDS with the
count, once more when the dependency answers again, and tells callers to leave the
dependency alone for ``hold_off`` seconds after a failure: a host that drops packets
costs a connect timeout per call, which every request would otherwise pay.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger("escalations.lib.outages")

LOG_EVERY_SECONDS = 60.0


class Outage:
    """What this process has seen of one dependency: up or down since when, and how
    many calls were degraded. Thread-safe (gunicorn threads, Celery's thread pools)."""

    def __init__(self, name: str, *, hold_off: float, consequence: str) -> None:
        self.name = name
        self.hold_off = hold_off
        # Said in the log line: what happens instead while the dependency is down.
        self.consequence = consequence
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._logged_at = 0.0
        self._unlogged = 0
        self.degraded_total = 0
        self.last_error = ""

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def holding_off(self) -> bool:
        """True shortly after a failure: skip the dependency and degrade at once."""
        if self._down_since is not None and time.monotonic() < self._retry_at:
            self.degraded()
            return True
        return False

    def failed(self, exc: BaseException) -> None:
        """A call failed: count it, log at most once per LOG_EVERY_SECONDS."""
        now = time.monotonic()
        with self._lock:
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            self._retry_at = now + self.hold_off
            if self._down_since is None:
                self._down_since = now
        self.degraded()

    def degraded(self) -> None:
        """One call done the degraded way (failed, or skipped while holding off)."""
        now = time.monotonic()
        with self._lock:
            self.degraded_total += 1
            self._unlogged += 1
            if now - self._logged_at < LOG_EVERY_SECONDS:
                return
            count, self._unlogged, self._logged_at = self._unlogged, 0, now
            error = self.last_error
        logger.warning("%s unreachable (%s): %d call(s) %s since the last report", self.name, error, count,
                       self.consequence)  # fmt: skip

    def succeeded(self) -> None:
        """A call went through: if the dependency was down, say for how long."""
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is None:
                return
            lasted = time.monotonic() - self._down_since
            count = self._unlogged
            self._down_since, self._unlogged, self._logged_at = None, 0, 0.0
        logger.warning("%s reachable again after %.0f s (%d more call(s) %s)", self.name, lasted, count,
                       self.consequence)  # fmt: skip

    def reset(self) -> None:
        """Forget what was seen (tests; an operator's fix)."""
        with self._lock:
            self._down_since = None
            self._retry_at = self._logged_at = 0.0
            self._unlogged = 0
            self.last_error = ""


# The shared cache: after a failure, requests skip it for 2 s (each would otherwise pay
# the connect timeout on a host that drops packets), so a returning cache is used again
# within 2 s.
CACHE = Outage("Cache (CACHE_URL)", hold_off=2.0, consequence="went on without it (throttles open)")
# The broker, as a publisher sees it: after a failed publish this process stops trying
# for 5 s (on a host that drops packets each attempt costs the 2 s connect timeout, which
# every web write would pay). Nothing is lost: outbox rows stay pending and the retry
# pass publishes them.
BROKER = Outage("Broker (REDIS_URL)", hold_off=5.0, consequence="left to the retry pass or run in-process")
