"""Logging filters named in settings.LOGGING."""

from __future__ import annotations

import logging

HEALTH_PATH = "/healthz"


class HealthProbeAtWarning(logging.Filter):
    """A 503 from /healthz is the probe doing its job (the body names the failing part),
    not a server error: Django's request logger would report every probe at ERROR and
    flood error trackers during an outage, so such records go out at WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if getattr(record, "status_code", None) == 503 and getattr(request, "path", None) == HEALTH_PATH:
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
        return True
