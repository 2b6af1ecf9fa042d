"""Per-person preferences (the zone times are shown in, the queue opened first)."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.db import transaction

from escalations.models import StaffProfile
from escalations.services.common import audited_save
from escalations.services.errors import RuleViolation


def staff_profile_set_timezone(*, user, timezone: str, actor) -> StaffProfile:
    """Set the zone ``user`` sees times in; the profile is created on first use."""
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise RuleViolation(f"Unknown time zone {timezone!r}.", field="timezone") from None
    with transaction.atomic():
        profile = StaffProfile.objects.select_for_update().filter(user=user).first()
        if profile is None:
            profile = StaffProfile(user=user, timezone=timezone)
            audited_save(profile, actor=actor)
        elif profile.timezone != timezone:
            profile.timezone = timezone
            audited_save(profile, actor=actor, update_fields=["timezone"])
        return profile


def staff_profile_set_queue(*, user, queue: str, actor) -> StaffProfile:
    """Remember the work queue ``user`` opened last, to open it first next time."""
    from escalations.selectors import QUEUES

    if queue not in QUEUES:
        raise RuleViolation(f"Unknown work queue {queue!r}.", field="queue")
    with transaction.atomic():
        profile = StaffProfile.objects.select_for_update().filter(user=user).first()
        if profile is None:
            # A new profile keeps the zone the person saw so far.
            profile = StaffProfile(user=user, timezone=settings.DEFAULT_VIEWER_TIMEZONE, queue=queue)
            audited_save(profile, actor=actor)
        elif profile.queue != queue:
            profile.queue = queue
            audited_save(profile, actor=actor, update_fields=["queue"])
        return profile
