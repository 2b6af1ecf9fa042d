"""Per-person preferences (the zone times are shown in, the queue opened first)."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.db import transaction

from escalations.choices import WORK_QUEUES
from escalations.errors import RuleViolation
from escalations.models import StaffProfile
from escalations.services.common import audited_save


def staff_profile_set_timezone(*, user, timezone: str, actor) -> StaffProfile:
    """Set the zone ``user`` sees times in; the profile is created on first use."""
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise RuleViolation(f"Unknown time zone {timezone!r}.", field="timezone") from None
    return _profile_set(user=user, actor=actor, timezone=timezone)


def staff_profile_set_queue(*, user, queue: str, actor) -> StaffProfile:
    """Remember the work queue ``user`` opened last, to open it first next time."""
    if queue not in WORK_QUEUES:
        raise RuleViolation(f"Unknown work queue {queue!r}.", field="queue")
    return _profile_set(user=user, actor=actor, queue=queue)


def _profile_set(*, user, actor, **values) -> StaffProfile:
    """Write ``values`` on the person's profile, made on first use (with the zone they saw
    so far), with a history row only when something changed."""
    with transaction.atomic():
        profile = StaffProfile.objects.select_for_update().filter(user=user).first()
        if profile is None:
            profile = StaffProfile(user=user, **{"timezone": settings.DEFAULT_VIEWER_TIMEZONE, **values})
            audited_save(profile, actor=actor)
            return profile
        changed = [field for field, value in values.items() if getattr(profile, field) != value]
        for field in changed:
            setattr(profile, field, values[field])
        if changed:
            audited_save(profile, actor=actor, update_fields=changed)
        return profile
