"""Breaches, early warnings and escalations: the record of the system acting on its own."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from escalations.choices import BreachCause, ClockKind, SeverityKey
from escalations.lib.text import MAX_REASON
from escalations.models.cases import Incident
from escalations.models.handoffs import HandoffPacket
from escalations.models.history import AuditHistory
from escalations.models.policies import EscalationStep


class BreachCauseOption(models.Model):
    """One entry of the list breach causes are picked from. Policy Admins add, rename and
    retire entries in the admin; an entry is never deleted (breaches keep the cause they
    were given), it is made inactive, which only stops it being chosen from then on."""

    code = models.SlugField(
        max_length=40, unique=True, help_text="Stable key of the cause in reports and the API; never change it."
    )
    label = models.CharField(max_length=80)
    description = models.TextField(
        blank=True, help_text="When to pick this cause, for the reviewer.", max_length=MAX_REASON
    )
    is_active = models.BooleanField(
        "active", default=True, help_text="Only active causes can be chosen; breaches that have one keep it."
    )
    position = models.PositiveSmallIntegerField(default=100, help_text="Order in the lists (lowest first).")
    history = AuditHistory()

    class Meta:
        ordering = ["position", "label"]
        verbose_name = "breach cause"
        constraints = [
            # "unknown" is how reports name a breach without a confirmed cause.
            models.CheckConstraint(condition=~Q(code=BreachCause.UNKNOWN), name="breach_cause_code_not_unknown"),
        ]

    def __str__(self) -> str:
        return self.label if self.is_active else f"{self.label} (retired)"


class Breach(models.Model):
    """A missed promise, recorded once per incident, kind and cycle. ``cycle`` is the
    resolve cycle for resolve breaches, the update sequence number for update breaches,
    the handoff packet id for handoff breaches and 1 for the acknowledge clock.

    ``cause_suggested`` is what the facts said when the sweep recorded it
    (``escalations.sla.causes``); ``cause`` stays empty until a reviewer confirms one
    (``services.breach_causes.breach_cause_confirm``), who and when beside it."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="breaches")
    kind = models.CharField(max_length=10, choices=ClockKind.choices)
    cycle = models.PositiveIntegerField(default=1)
    handoff = models.ForeignKey(HandoffPacket, on_delete=models.CASCADE, null=True, blank=True, related_name="breaches")
    severity = models.CharField(max_length=2, choices=SeverityKey.choices)
    due_at = models.DateTimeField()
    detected_at = models.DateTimeField()
    # No index on the three columns below: nothing looks breaches up by them (the review
    # queue scans breach_review_idx, the weekly figures breach_detected_idx, causes and
    # people are never deleted in bulk), and the sweep inserts thousands of breaches a
    # batch, each of which would update every index.
    cause = models.ForeignKey(
        BreachCauseOption,
        to_field="code",
        db_column="cause",
        db_index=False,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="breaches",
        help_text="The confirmed cause; empty until reviewed.",
    )
    cause_note = models.TextField(blank=True, max_length=MAX_REASON)
    cause_suggested = models.ForeignKey(
        BreachCauseOption,
        to_field="code",
        db_column="cause_suggested",
        db_index=False,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="suggested cause",
        help_text="What the facts suggested when the breach was recorded.",
    )
    cause_confirmed_at = models.DateTimeField("cause confirmed", null=True, blank=True)
    cause_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        db_index=False,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="cause confirmed by",
    )
    history = AuditHistory()

    class Meta:
        ordering = ["-detected_at"]
        verbose_name_plural = "breaches"
        constraints = [
            # The final exactly-once guard: a sweep whose insert collides here rolls its batch
            # back and re-plans the case against what is already recorded.
            models.UniqueConstraint(fields=["incident", "kind", "cycle"], name="breach_once_per_cycle"),
            # A cause is confirmed by someone at some time, or not at all.
            models.CheckConstraint(
                condition=Q(cause__isnull=True, cause_confirmed_at__isnull=True, cause_confirmed_by__isnull=True)
                | Q(cause__isnull=False, cause_confirmed_at__isnull=False, cause_confirmed_by__isnull=False),
                name="breach_cause_confirmed_by_whom",
            ),
        ]
        indexes = [
            # Weekly review: breaches detected in a week, by kind.
            models.Index(fields=["detected_at", "kind"], name="breach_detected_idx"),
            # The review queue: breaches without a confirmed cause, oldest first.
            models.Index(
                fields=["detected_at", "id"], condition=Q(cause_confirmed_at__isnull=True), name="breach_review_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} breach on {self.incident_id} (cycle {self.cycle})"

    @property
    def cause_code(self) -> str:
        """The cause as reports key it: the confirmed code, else "unknown"."""
        return self.cause_id or BreachCause.UNKNOWN


class SlaWarning(models.Model):
    """The early warning at the policy's share of a target, raised once per cycle."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="warnings")
    kind = models.CharField(max_length=10, choices=ClockKind.choices)
    cycle = models.PositiveIntegerField(default=1)
    warn_at = models.DateTimeField()
    due_at = models.DateTimeField()
    detected_at = models.DateTimeField()
    history = AuditHistory()

    class Meta:
        ordering = ["-detected_at"]
        verbose_name = "SLA warning"
        constraints = [models.UniqueConstraint(fields=["incident", "kind", "cycle"], name="warning_once_per_cycle")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} warning on {self.incident_id}"


class Escalation(models.Model):
    """A rise in a case's escalation level (one rung of the chain) and who was paged for
    it. While the case's current rung is unacknowledged, ``Incident.next_escalation_at``
    says when the chain climbs past it; acknowledging the rung (``services.chain``)
    stops that timer."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="escalations")
    level = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=300)
    breach = models.ForeignKey(Breach, on_delete=models.SET_NULL, null=True, blank=True, related_name="escalations")
    step = models.ForeignKey(EscalationStep, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    notified = models.JSONField(default=list, help_text="Who was notified: [{user, team, channel}].")
    created_at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    is_executive = models.BooleanField(default=False)
    acknowledged_at = models.DateTimeField(
        null=True, blank=True, help_text="When the rung was answered: its page acknowledged, or the case."
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    history = AuditHistory()

    class Meta:
        ordering = ["incident", "level"]
        constraints = [
            # A level is reached once: two sweeps racing cannot both escalate to it.
            models.UniqueConstraint(fields=["incident", "level"], name="escalation_level_once"),
            models.CheckConstraint(condition=Q(level__gte=1), name="escalation_level_positive"),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True)
                | Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False),
                name="escalation_acknowledged_by_whom",
            ),
        ]
        indexes = [
            # Weekly review: executive interrupts in a range of weeks.
            models.Index(fields=["created_at"], condition=Q(is_executive=True), name="escalation_executive_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} → level {self.level}"

    @property
    def notified_names(self) -> str:
        """Who was notified, each once (a person reached by email and in-app is one name)."""
        return ", ".join(dict.fromkeys(entry.get("label") or "?" for entry in self.notified)) or "nobody on duty"
