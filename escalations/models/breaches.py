"""Breaches, early warnings and escalations: the record of the system acting on its own."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from escalations.choices import BreachCause, ClockKind, SeverityKey
from escalations.models.cases import Incident
from escalations.models.handoffs import HandoffPacket
from escalations.models.history import AuditHistory
from escalations.models.policies import EscalationStep


class Breach(models.Model):
    """A missed promise, recorded once per incident, kind and cycle. ``cycle`` is the
    resolve cycle for resolve breaches, the update sequence number for update breaches,
    the handoff packet id for handoff breaches and 1 for the acknowledge clock."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="breaches")
    kind = models.CharField(max_length=10, choices=ClockKind.choices)
    cycle = models.PositiveIntegerField(default=1)
    handoff = models.ForeignKey(HandoffPacket, on_delete=models.CASCADE, null=True, blank=True, related_name="breaches")
    severity = models.CharField(max_length=2, choices=SeverityKey.choices)
    due_at = models.DateTimeField()
    detected_at = models.DateTimeField()
    cause = models.CharField(max_length=20, choices=BreachCause.choices, default=BreachCause.UNKNOWN)
    cause_note = models.TextField(blank=True)
    history = AuditHistory()

    class Meta:
        ordering = ["-detected_at"]
        verbose_name_plural = "breaches"
        constraints = [
            # The final exactly-once guard: a sweep whose insert collides here rolls its batch
            # back and re-plans the case against what is already recorded.
            models.UniqueConstraint(fields=["incident", "kind", "cycle"], name="breach_once_per_cycle"),
        ]
        indexes = [
            # Weekly review: breaches detected in a week, by kind.
            models.Index(fields=["detected_at", "kind"], name="breach_detected_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} breach on {self.incident_id} (cycle {self.cycle})"


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
