"""Reading the policy tables for the services: trigger evaluation and policy lookup."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from escalations.errors import RuleViolation
from escalations.models import SeverityPolicy
from escalations.services.common import audited_save

# Fields of a severity policy an editor may change (key and rank identify it).
POLICY_EDITABLE_FIELDS = (
    "name",
    "description",
    "ack_target",
    "resolve_target",
    "update_cadence",
    "handoff_accept_within",
    "warning_pct",
    "calendar",
    "pages_on_intake",
    "requires_commander",
    "requires_bridge",
    "requires_rca",
    "rca_due_business_days",
    "allows_executive_escalation",
    "review_by",
)


def severity_policy_update(*, policy: SeverityPolicy, actor, **changes) -> SeverityPolicy:
    """Edit a policy (the API's door; the admin saves through its ModelForm, which runs the
    same clean()). Open cases keep the targets they snapshotted: this changes future cases
    only. History records ``actor``. Raises RuleViolation naming the field at fault."""
    unknown = set(changes) - set(POLICY_EDITABLE_FIELDS)
    if unknown:
        raise RuleViolation(f"These fields cannot be edited: {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    with transaction.atomic():
        locked = SeverityPolicy.objects.select_for_update().get(pk=policy.pk)
        changed = [field for field, value in changes.items() if getattr(locked, field) != value]
        for field in changed:
            setattr(locked, field, changes[field])
        if not changed:
            return locked
        try:
            locked.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            field, messages = next(iter(exc.message_dict.items()))
            raise RuleViolation(" ".join(messages), field=None if field == "__all__" else field) from None
        audited_save(locked, actor=actor, update_fields=changed)
        return locked
