"""Reading the policy tables for the services: trigger evaluation and policy lookup."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from escalations.models import SeverityPolicy, TriggerRule
from escalations.services.errors import RuleViolation
from escalations.sla import ImpactFacts, Rule, TriggerResult, evaluate

# Severity of a case that no trigger rule matches and nobody raised.
DEFAULT_SEVERITY = "S3"


def active_rules() -> list[Rule]:
    return [
        Rule(name=r.name, kind=r.kind, severity=r.severity, threshold=r.threshold)
        for r in TriggerRule.objects.filter(active=True).only("name", "kind", "severity", "threshold")
    ]


def triggers_evaluate(
    *,
    arr_at_risk: Decimal | int | float = 0,
    users_affected_pct: Decimal | int | float = 0,
    data_risk: bool = False,
    legal_risk: bool = False,
    security_risk: bool = False,
    last_progress_at: datetime | None = None,
    now: datetime | None = None,
    rules: list[Rule] | None = None,
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


def policy_for(severity: str) -> SeverityPolicy:
    try:
        return SeverityPolicy.objects.select_related("calendar").get(key=severity)
    except SeverityPolicy.DoesNotExist:
        raise RuleViolation(
            f"There is no severity policy {severity!r}; a Policy Admin must create it.", field="severity"
        ) from None
