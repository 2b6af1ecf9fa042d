"""Reading the policy tables for the services: trigger evaluation and policy lookup."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from escalations.models import SeverityPolicy
from escalations.services.common import audited_save
from escalations.services.errors import RuleViolation
from escalations.services.policy_tables import PolicyTables, policy_tables
from escalations.sla import ImpactFacts, Rule, TriggerResult, evaluate

# Severity of a case that no trigger rule matches and nobody raised.
DEFAULT_SEVERITY = "S3"


def active_rules() -> list[Rule]:
    return list(policy_tables().rules)


def triggers_evaluate(
    *,
    arr_at_risk: Decimal | int | float = 0,
    users_affected_pct: Decimal | int | float = 0,
    data_risk: bool = False,
    legal_risk: bool = False,
    security_risk: bool = False,
    last_progress_at: datetime | None = None,
    now: datetime | None = None,
    rules: Sequence[Rule] | None = None,
) -> TriggerResult:
    """The severity floor the active trigger rules give these impact facts."""
    facts = ImpactFacts(
        arr_at_risk=Decimal(str(arr_at_risk)),
        users_affected_pct=Decimal(str(users_affected_pct)),
        data_risk=bool(data_risk),
        legal_risk=bool(legal_risk),
        security_risk=bool(security_risk),
        last_progress_at=last_progress_at,
        now=now,
    )
    return evaluate(active_rules() if rules is None else rules, facts)


def policy_for(severity: str, *, tables: PolicyTables | None = None) -> SeverityPolicy:
    """The policy for ``severity`` (a private copy, calendar and holidays loaded), from
    ``tables`` when the caller already holds them."""
    policy = (tables or policy_tables()).policy(severity)
    if policy is None:
        raise RuleViolation(
            f"There is no severity policy {severity!r}; a Policy Admin must create it.", field="severity"
        )
    return policy


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
