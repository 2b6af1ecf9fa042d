"""Trigger maths: severity from objective impact facts. Pure; the highest matching rule
wins. Severity keys rank S1 (most severe) … S4."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

# The one order of severities, most severe first. choices.SeverityKey lists the same keys
# in the same order (a unit test holds them equal) and each SeverityPolicy.rank is its
# key's severity_rank (SeverityPolicy.clean).
SEVERITY_ORDER = ("S1", "S2", "S3", "S4")


def severity_rank(key: str) -> int:
    """1 for S1 … 4 for S4 (lower is more severe). Every comparison of severities in the
    app goes through this."""
    return SEVERITY_ORDER.index(key) + 1


def more_severe(a: str, b: str) -> str:
    return a if severity_rank(a) <= severity_rank(b) else b


def less_severe_than(key: str) -> tuple[str, ...]:
    """The severities below ``key``, most severe first."""
    return SEVERITY_ORDER[severity_rank(key) :]


def below_floor(severity: str | None, floor: str | None) -> bool:
    """Whether ``severity`` is less severe than the severity floor (what the triggers
    gave this case; no floor: nothing is below it). A case at or being set to such a
    severity needs a Manager's decision. ``severity`` None: the triggers give nothing
    now, which is below any floor."""
    if floor is None:
        return False
    return severity is None or severity_rank(severity) > severity_rank(floor)


def floor_after(floor: str | None, given: str | None) -> str | None:
    """The ratchet of the severity floor: what the triggers ``given`` now leave it at
    when nobody lowers it. It rises to ``given`` when that is at least as severe and
    never falls by itself; lowering it is a Manager's decision
    (``services.severity.severity_floor_set``)."""
    if given is None:
        return floor
    return given if floor is None else more_severe(given, floor)


@dataclass(frozen=True)
class ImpactFacts:
    arr_at_risk: Decimal = Decimal(0)
    users_affected_pct: Decimal = Decimal(0)
    data_risk: bool = False
    legal_risk: bool = False
    security_risk: bool = False
    # For the no-progress rule: when progress was last made (None: never evaluated).
    last_progress_at: datetime | None = None
    now: datetime | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str  # escalations.choices.TriggerKind values
    severity: str
    threshold: Decimal | None = None


@dataclass(frozen=True)
class TriggerResult:
    severity: str | None  # None: no rule matched
    matched: tuple[Rule, ...]

    @property
    def explanation(self) -> str:
        if not self.matched:
            return "No trigger rule matched."
        top = [r for r in self.matched if r.severity == self.severity]
        return f"{self.severity}: " + "; ".join(rule.name for rule in top)


def rule_matches(rule: Rule, facts: ImpactFacts) -> bool:
    if rule.kind == "data_risk":
        return facts.data_risk
    if rule.kind == "legal_risk":
        return facts.legal_risk
    if rule.kind == "security":
        return facts.security_risk
    if rule.kind == "arr_at_risk":
        return rule.threshold is not None and Decimal(facts.arr_at_risk) >= rule.threshold
    if rule.kind == "users_affected_pct":
        return rule.threshold is not None and Decimal(facts.users_affected_pct) >= rule.threshold
    if rule.kind == "no_progress":
        if rule.threshold is None or facts.last_progress_at is None or facts.now is None:
            return False
        return facts.now - facts.last_progress_at > timedelta(minutes=float(rule.threshold))
    raise ValueError(f"unknown trigger kind {rule.kind!r}")


def evaluate(rules: Iterable[Rule], facts: ImpactFacts) -> TriggerResult:
    """Every matching rule, most severe first; the result's severity is the highest."""
    matched = sorted((r for r in rules if rule_matches(r, facts)), key=lambda r: (severity_rank(r.severity), r.name))
    return TriggerResult(matched[0].severity if matched else None, tuple(matched))


def executive_trigger(rules: Iterable[Rule], facts: ImpactFacts, *, severity: str) -> Rule | None:
    """The objective trigger that makes an executive escalation of a ``severity`` case
    immediate: a rule of that policy (its severity, or a more severe one) matching the
    case's facts now, most severe first. None: the request waits for a Manager."""
    for rule in evaluate(rules, facts).matched:
        if severity_rank(rule.severity) <= severity_rank(severity):
            return rule
    return None
