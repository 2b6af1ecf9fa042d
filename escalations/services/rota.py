"""The shift rota, as Duty Managers keep it: a person covers someone's shift, or two
people swap shifts. Every change is audited with who made it."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from escalations.errors import NotAllowed, RuleViolation
from escalations.models import Shift
from escalations.security.access import may_own_case
from escalations.services.common import audited_save


def _require_rota_editor(actor) -> None:
    if not actor.has_perm("escalations.change_shift"):
        raise NotAllowed("Only a Duty Manager or an administrator changes the rota.", field="shift")


def _not_over(shift: Shift, now: datetime) -> None:
    if shift.ends_at <= now:
        raise RuleViolation("That shift is over: the rota's past is a record, not a plan.", field="shift")


def shift_cover(*, shift: Shift | int, user, actor, now: datetime) -> Shift:
    """``user`` works ``shift`` instead of its person."""
    _require_rota_editor(actor)
    with transaction.atomic():
        shift = Shift.objects.select_for_update().get(pk=shift.pk if isinstance(shift, Shift) else shift)
        _not_over(shift, now)
        if user is None or not may_own_case(user):
            raise RuleViolation("Choose someone who works cases.", field="user")
        if shift.user_id == user.pk:
            raise RuleViolation(f"{user} already works that shift.", field="user", code="unchanged")
        shift.user = user
        audited_save(shift, actor=actor, update_fields=["user"])
        return shift


def shift_swap(*, shift: Shift | int, other: Shift | int, actor, now: datetime) -> tuple[Shift, Shift]:
    """The two shifts' people trade places."""
    _require_rota_editor(actor)
    ids = sorted(s.pk if isinstance(s, Shift) else int(s) for s in (shift, other))
    if ids[0] == ids[1]:
        raise RuleViolation("Choose another shift to swap with.", field="other")
    with transaction.atomic():
        locked = {s.pk: s for s in Shift.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        if len(locked) != 2:
            raise RuleViolation("No such shift.", field="other", code="not_found")
        first = locked[shift.pk if isinstance(shift, Shift) else int(shift)]
        second = locked[other.pk if isinstance(other, Shift) else int(other)]
        for one in (first, second):
            _not_over(one, now)
        if first.user_id == second.user_id:
            raise RuleViolation("Both shifts are the same person's.", field="other", code="unchanged")
        first.user, second.user = second.user, first.user
        audited_save(first, actor=actor, update_fields=["user"])
        audited_save(second, actor=actor, update_fields=["user"])
        return first, second
