"""Severity policies, their escalation chains, and the trigger rules that set severity."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from escalations.choices import ChainTarget, NotificationChannel, SeverityKey, TriggerKind
from escalations.lib.text import MAX_LONG_TEXT
from escalations.models.history import AuditHistory
from escalations.models.org import BusinessCalendar, Team
from escalations.sla.triggers import SEVERITY_ORDER, severity_rank


class SeverityPolicy(models.Model):
    key = models.CharField(max_length=2, choices=SeverityKey.choices, unique=True)
    rank = models.PositiveSmallIntegerField(unique=True, help_text="1 is the most severe.")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=MAX_LONG_TEXT)
    ack_target = models.DurationField("time to acknowledge (TTA)")
    resolve_target = models.DurationField("time to resolve (TTR)")
    update_cadence = models.DurationField("customer update every")
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="policies")
    handoff_accept_within = models.DurationField(
        "handoff acceptance time box",
        default=timedelta(minutes=15),
        help_text="A handoff not accepted by then breaches.",
    )
    warning_pct = models.PositiveSmallIntegerField(
        "warning at % of target", default=75, help_text="A warning fires at this share of each target."
    )
    pages_on_intake = models.BooleanField(default=False, help_text="Page the on-duty Support Duty Manager at intake.")
    requires_commander = models.BooleanField(default=False)
    requires_bridge = models.BooleanField(default=False)
    requires_rca = models.BooleanField(
        "RCA required", default=False, help_text="Resolving a case opens its root cause analysis."
    )
    rca_due_business_days = models.PositiveSmallIntegerField(
        "RCA due within (business days)",
        default=5,
        help_text="Counted on the policy's calendar from the day the case is resolved; holidays skipped.",
    )
    allows_executive_escalation = models.BooleanField(
        default=False, help_text="Only when set may the escalation chain reach executives."
    )
    review_by = models.DateField(null=True, blank=True, help_text="Reset thresholds from evidence by this date.")
    history = AuditHistory()

    class Meta:
        ordering = ["rank"]
        verbose_name_plural = "severity policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(warning_pct__gte=1, warning_pct__lte=100), name="policy_warning_pct_range"
            ),
            models.CheckConstraint(condition=Q(ack_target__gt=timedelta(0)), name="policy_ack_target_positive"),
            models.CheckConstraint(condition=Q(resolve_target__gt=timedelta(0)), name="policy_resolve_target_positive"),
            models.CheckConstraint(condition=Q(update_cadence__gt=timedelta(0)), name="policy_update_cadence_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.key} — {self.name}"

    def clean(self) -> None:
        errors = {}
        for field in ("ack_target", "resolve_target", "update_cadence"):
            value = getattr(self, field)
            if value is not None and value <= timedelta(0):
                errors[field] = "Must be longer than zero."
        if self.key in SEVERITY_ORDER and self.rank is not None and self.rank != severity_rank(self.key):
            # The order of severities is one (sla.triggers.SEVERITY_ORDER); the rank
            # only sorts policies in that order.
            errors["rank"] = f"{self.key} ranks {severity_rank(self.key)}: S1 is the most severe, S4 the least."
        if self.ack_target and self.resolve_target and self.ack_target > self.resolve_target:
            errors["ack_target"] = "The acknowledge target cannot be longer than the resolve target."
        if self.pk and any(not self.chain_may_reach(step.target) for step in self.chain.all()):
            errors["allows_executive_escalation"] = (
                "The escalation chain still reaches an executive; remove that step first."
            )
        if errors:
            raise ValidationError(errors)

    def chain_may_reach(self, target: str) -> bool:
        """Executives only where the chain *and* the policy say so: the one home of the
        rule, called when a step or a policy is saved (every door: admin, API, playbook)
        and when the sweep climbs the chain (a step written before the policy changed)."""
        return target != ChainTarget.EXECUTIVE or self.allows_executive_escalation


class EscalationStep(models.Model):
    """One rung of a policy's escalation chain: who is paged at which level, and how long
    the previous rung's people have to acknowledge their page before the chain climbs to
    this one. A breach reaches the next rung at once; an executive rung is never reached
    by a breach or a timer."""

    policy = models.ForeignKey(SeverityPolicy, on_delete=models.CASCADE, related_name="chain")
    level = models.PositiveSmallIntegerField(help_text="1 is the first rung.")
    target = models.CharField(max_length=20, choices=ChainTarget.choices)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    wait = models.DurationField(
        default=timedelta(minutes=15),
        help_text="Fires this long after the previous rung was paged if nobody it paged has acknowledged.",
    )
    channels = models.CharField(
        max_length=60,
        default="email,in_app,webhook",
        help_text=f"Comma-separated: {', '.join(NotificationChannel.values)}.",
    )
    history = AuditHistory()

    class Meta:
        ordering = ["policy__rank", "level"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "level"], name="chain_level_unique_per_policy"),
            models.CheckConstraint(condition=Q(level__gte=1), name="chain_level_positive"),
            models.CheckConstraint(
                condition=~Q(target="team") | Q(team__isnull=False), name="chain_team_step_has_team"
            ),
            models.CheckConstraint(
                condition=~Q(target="user") | Q(user__isnull=False), name="chain_user_step_has_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy.key} L{self.level}: {self.get_target_display()}"

    def clean(self) -> None:
        if self.target == ChainTarget.TEAM and not self.team_id:
            raise ValidationError({"team": "A team step needs a team."})
        if self.target == ChainTarget.USER and not self.user_id:
            raise ValidationError({"user": "A user step needs a user."})
        if self.policy_id and not self.policy.chain_may_reach(self.target):
            raise ValidationError({"target": "This policy does not allow executive escalation."})
        bad = [c for c in self.channel_list() if c not in NotificationChannel.values]
        if bad:
            raise ValidationError({"channels": f"Unknown channel(s): {', '.join(bad)}."})

    def channel_list(self) -> list[str]:
        return [c.strip() for c in self.channels.split(",") if c.strip()]


class TriggerRule(models.Model):
    """An objective condition on a case's impact facts giving a minimum severity.
    The most severe matching rule wins."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=30, choices=TriggerKind.choices)
    threshold = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="USD for ARR, percent for users affected, minutes for no progress.",
    )
    severity = models.CharField(max_length=2, choices=SeverityKey.choices)
    active = models.BooleanField(default=True)
    history = AuditHistory()

    class Meta:
        ordering = ["severity", "name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind__in=["arr_at_risk", "users_affected_pct", "no_progress"])
                | Q(threshold__isnull=False),
                name="trigger_threshold_required",
            ),
            models.CheckConstraint(
                condition=Q(threshold__isnull=True) | Q(threshold__gte=0), name="trigger_threshold_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind in (TriggerKind.ARR_AT_RISK, TriggerKind.USERS_AFFECTED, TriggerKind.NO_PROGRESS):
            if self.threshold is None:
                raise ValidationError({"threshold": "This kind of rule needs a threshold."})
        if self.kind == TriggerKind.USERS_AFFECTED and self.threshold is not None and self.threshold > 100:
            raise ValidationError({"threshold": "A percentage cannot exceed 100."})
