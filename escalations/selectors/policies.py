"""The policy tables every intake reads — trigger rules, severity policies with their
calendars and holidays, SOP templates with their items — cached per process.

Invalidation is by content, not by remembering to bump a generation: each read first
asks the database for a digest of those tables as they stand (one query; they hold
tens of rows, ~0.2 ms) and reloads when it differs from the digest the cache was built
under. So every change is seen by the very next read in every process, whatever made
it: the admin, a service, a fixture, a migration, even a raw UPDATE that wrote no
history; and a rolled-back edit stops being seen with the rollback. The digest is taken
in the caller's transaction, which therefore sees its own uncommitted edits.

The cached values are shared by every request of the process: templates and rules are
frozen values, and ``policy`` hands out a copy of the cached SeverityPolicy row.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from types import MappingProxyType

from django.db import connection

from escalations.errors import RuleViolation
from escalations.models import BusinessCalendar, Holiday, SeverityPolicy, SOPTemplate, SOPTemplateItem, TriggerRule
from escalations.sla import ImpactFacts, Rule, TriggerResult, evaluate

# Every table whose content the cache holds. Each row's full text goes into the digest.
DIGESTED_MODELS = (SeverityPolicy, BusinessCalendar, Holiday, TriggerRule, SOPTemplate, SOPTemplateItem)


@dataclass(frozen=True)
class TemplateItemSpec:
    order: int
    text: str
    required: bool
    fact: str = ""


@dataclass(frozen=True)
class TemplateSpec:
    """An active SOP template as checklists are made from it."""

    pk: int
    name: str
    severity: str  # blank: any severity
    stage: str
    category: str  # blank: any category
    play: str
    items: tuple[TemplateItemSpec, ...]

    def matches(self, *, severity: str, category: str) -> bool:
        return self.severity in ("", severity) and self.category in ("", category)


@dataclass(frozen=True)
class PolicyTables:
    digest: str
    rules: tuple[Rule, ...]  # the active trigger rules
    policies: MappingProxyType[str, SeverityPolicy]  # by key, calendar and holidays loaded
    templates: tuple[TemplateSpec, ...]  # the active SOP templates, by stage then name

    def policy(self, key: str) -> SeverityPolicy | None:
        """A private copy of the policy row (callers may set attributes on it), its
        calendar and holidays already loaded."""
        cached = self.policies.get(key)
        return copy.copy(cached) if cached is not None else None

    def templates_for(self, *, severity: str, category: str) -> list[TemplateSpec]:
        return [t for t in self.templates if t.matches(severity=severity, category=category)]


_cached: PolicyTables | None = None


def policy_tables() -> PolicyTables:
    """The policy tables as the current transaction sees them: one query when the cache
    is current, a reload (five more) when anything in them changed."""
    global _cached
    digest = _digest()
    cached = _cached
    if cached is not None and cached.digest == digest:
        return cached
    tables = _load(digest)
    # Only cache what is known to match its digest: a commit landing between the digest
    # and the load would otherwise file the new content under the old digest.
    if _digest() == digest:
        _cached = tables
    return tables


def policy_tables_clear() -> None:
    """Drop the cache (for tests; correctness never needs it)."""
    global _cached
    _cached = None


@cache
def _digest_sql() -> str:
    quote = connection.ops.quote_name
    tables = [
        f"'{model._meta.db_table}', (SELECT string_agg(t::text, '|' ORDER BY t.{quote(model._meta.pk.column)}) "
        f"FROM {quote(model._meta.db_table)} t)"
        for model in DIGESTED_MODELS
    ]
    # Each table's rows as text, in primary key order, after its name (concat_ws skips
    # the NULL of an empty table; the names keep the tables apart).
    return f"SELECT md5(concat_ws('#', {', '.join(tables)}))"


def _digest() -> str:
    with connection.cursor() as cursor:
        cursor.execute(_digest_sql())
        return cursor.fetchone()[0]


def _load(digest: str) -> PolicyTables:
    rules = tuple(
        Rule(name=r.name, kind=r.kind, severity=r.severity, threshold=r.threshold)
        for r in TriggerRule.objects.filter(active=True).only("name", "kind", "severity", "threshold")
    )
    policies = {
        p.key: p for p in SeverityPolicy.objects.select_related("calendar").prefetch_related("calendar__holidays")
    }
    templates = tuple(
        TemplateSpec(
            pk=t.pk,
            name=t.name,
            severity=t.severity,
            stage=t.stage,
            category=t.category,
            play=t.play,
            items=tuple(
                TemplateItemSpec(order=i.order, text=i.text, required=i.required, fact=i.fact) for i in t.items.all()
            ),
        )
        for t in SOPTemplate.objects.filter(active=True).prefetch_related("items").order_by("stage", "name")
    )
    return PolicyTables(digest=digest, rules=rules, policies=MappingProxyType(policies), templates=templates)


__all__ = ["PolicyTables", "TemplateItemSpec", "TemplateSpec", "policy_tables", "policy_tables_clear"]


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
