"""The escape valves under governance: executive escalation requests and service credits.

Each request is a row with the person who asked, why, and — once decided — who decided,
when and why. Database constraints keep every status's fields consistent, so a row can
never claim a decision nobody made."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from escalations.choices import Tier, ValveStatus
from escalations.lib.text import MAX_REASON
from escalations.models.breaches import Breach, Escalation
from escalations.models.cases import Incident
from escalations.models.history import AuditHistory

_UNDECIDED = Q(decided_at__isnull=True, decided_by__isnull=True, decision_reason="")
_DECIDED = Q(decided_at__isnull=False, decided_by__isnull=False) & ~Q(decision_reason="")


class ExecutiveEscalationRequest(models.Model):
    """A request to page the executive rung of a case's chain. Immediate (``triggered``)
    when one of the policy's objective triggers holds; otherwise it waits for a
    Manager, who approves (the case is escalated) or denies it, with a reason."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="executive_requests")
    status = models.CharField(max_length=10, choices=ValveStatus.choices, default=ValveStatus.PENDING)
    reason = models.TextField(max_length=MAX_REASON)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    trigger = models.CharField(
        max_length=300, blank=True, help_text="The objective trigger that made the escalation immediate."
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, max_length=MAX_REASON)
    # RESTRICT: the escalation goes only with its case (which takes this row with it).
    escalation = models.ForeignKey(
        Escalation, on_delete=models.RESTRICT, null=True, blank=True, related_name="executive_requests"
    )
    history = AuditHistory()

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = "executive escalation request"
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="executive_request_reason_required"),
            models.CheckConstraint(
                condition=(Q(status=ValveStatus.PENDING) & _UNDECIDED & Q(escalation__isnull=True, trigger=""))
                | (Q(status=ValveStatus.APPROVED) & _DECIDED & Q(escalation__isnull=False, trigger=""))
                | (Q(status=ValveStatus.DENIED) & _DECIDED & Q(escalation__isnull=True, trigger=""))
                | (
                    Q(status=ValveStatus.TRIGGERED, decided_at__isnull=False, decided_by__isnull=True)
                    & Q(decision_reason="", escalation__isnull=False)
                    & ~Q(trigger="")
                ),
                name="executive_request_status_fields",
            ),
            # One request waiting for a Manager per case: a second would be a second vote.
            models.UniqueConstraint(
                fields=["incident"], condition=Q(status=ValveStatus.PENDING), name="executive_request_one_pending"
            ),
        ]
        indexes = [
            # The approvals page: pending requests, oldest first.
            models.Index(
                fields=["requested_at"], condition=Q(status=ValveStatus.PENDING), name="executive_request_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Executive escalation of {self.incident_id} ({self.get_status_display()})"


class ServiceCreditRule(models.Model):
    """What a breach is worth to a customer of a tier: a share of the monthly fee per
    breached hour, capped at a share of the fee per request."""

    tier = models.CharField(max_length=20, choices=Tier.choices, unique=True)
    percent_per_hour = models.DecimalField("% of the monthly fee per breached hour", max_digits=6, decimal_places=3)
    cap_percent = models.DecimalField(
        "cap (% of the monthly fee)", max_digits=5, decimal_places=2, help_text="At most this share of the fee."
    )
    history = AuditHistory()

    class Meta:
        ordering = ["tier"]
        verbose_name = "service-credit rule"
        constraints = [
            models.CheckConstraint(condition=Q(percent_per_hour__gt=0), name="credit_rule_rate_positive"),
            models.CheckConstraint(condition=Q(cap_percent__gt=0, cap_percent__lte=100), name="credit_rule_cap_0_100"),
        ]

    def __str__(self) -> str:
        return f"{self.get_tier_display()}: {self.percent_per_hour} %/h, cap {self.cap_percent} %"


class ServiceCreditRequest(models.Model):
    """A service credit asked for a case's breaches: the amount (at most what the rule
    gives for them, ``eligible_amount``, computed when asked) and why; a Manager
    approves or denies it with a reason."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="credit_requests")
    breaches = models.ManyToManyField(Breach, through="ServiceCreditBreach", related_name="credit_requests")
    status = models.CharField(max_length=10, choices=ValveStatus.choices, default=ValveStatus.PENDING)
    breached_seconds = models.PositiveIntegerField(help_text="Breached time of its breaches when it was asked.")
    eligible_amount = models.DecimalField(max_digits=12, decimal_places=2)
    amount = models.DecimalField("amount (USD)", max_digits=12, decimal_places=2)
    justification = models.TextField(max_length=MAX_REASON)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, max_length=MAX_REASON)
    history = AuditHistory()

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = "service-credit request"
        constraints = [
            models.CheckConstraint(condition=~Q(justification=""), name="credit_request_justified"),
            models.CheckConstraint(
                condition=Q(amount__gt=Decimal(0), amount__lte=models.F("eligible_amount")),
                name="credit_request_amount_within_eligible",
            ),
            models.CheckConstraint(
                condition=(Q(status=ValveStatus.PENDING) & _UNDECIDED)
                | (Q(status__in=[ValveStatus.APPROVED, ValveStatus.DENIED]) & _DECIDED),
                name="credit_request_status_fields",
            ),
        ]
        indexes = [
            # The approvals page: pending requests, oldest first.
            models.Index(
                fields=["requested_at"], condition=Q(status=ValveStatus.PENDING), name="credit_request_pending_idx"
            ),
            # Weekly totals: requested in a period, approved (decided) in a period.
            models.Index(fields=["requested_at"], name="credit_request_requested_idx"),
            models.Index(fields=["decided_at"], condition=Q(status=ValveStatus.APPROVED), name="credit_approved_idx"),
        ]

    def __str__(self) -> str:
        return f"Service credit of {self.amount} on {self.incident_id} ({self.get_status_display()})"

    @property
    def breached(self) -> timedelta:
        return timedelta(seconds=self.breached_seconds)


class ServiceCreditBreach(models.Model):
    """A breach a service-credit request is for."""

    request = models.ForeignKey(ServiceCreditRequest, on_delete=models.CASCADE, related_name="breach_links")
    breach = models.ForeignKey(Breach, on_delete=models.CASCADE, related_name="credit_links")
    history = AuditHistory()

    class Meta:
        verbose_name = "service-credit breach"
        constraints = [models.UniqueConstraint(fields=["request", "breach"], name="credit_breach_once")]

    def __str__(self) -> str:
        return f"{self.request_id} ← breach {self.breach_id}"
