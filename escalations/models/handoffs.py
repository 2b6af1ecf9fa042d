"""Handoff packets: the standard packet that makes ownership survive shifts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from escalations.choices import HandoffStatus, Stage
from escalations.lib.text import MAX_LONG_TEXT, MAX_REASON
from escalations.models.cases import Incident, reference_for
from escalations.models.history import AuditHistory
from escalations.models.org import Team

PACKET_FIELDS = (
    "summary",
    "customer_impact",
    "actions_taken",
    "hypothesis",
    "next_steps",
    "open_questions",
    "links",
    "acceptance_criteria",
)


class HandoffPacket(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="handoffs")
    from_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="handoffs_sent")
    from_team = models.ForeignKey(Team, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    from_stage = models.CharField(max_length=10, choices=Stage.choices)
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="handoffs_received"
    )
    to_team = models.ForeignKey(Team, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    to_stage = models.CharField(max_length=10, choices=Stage.choices)

    summary = models.TextField(max_length=MAX_LONG_TEXT)
    customer_impact = models.TextField(max_length=MAX_LONG_TEXT)
    actions_taken = models.TextField(blank=True, max_length=MAX_LONG_TEXT)
    hypothesis = models.TextField("current hypothesis", blank=True, max_length=MAX_LONG_TEXT)
    next_steps = models.TextField(max_length=MAX_LONG_TEXT)
    open_questions = models.TextField(blank=True, max_length=MAX_LONG_TEXT)
    links = models.TextField(blank=True, max_length=MAX_LONG_TEXT)
    acceptance_criteria = models.TextField(blank=True, max_length=MAX_LONG_TEXT)
    checklist_state = models.JSONField(default=list, help_text="Checklist items and whether done, at offer time.")

    status = models.CharField(max_length=10, choices=HandoffStatus.choices, default=HandoffStatus.OFFERED)
    offered_at = models.DateTimeField()
    accept_due_at = models.DateTimeField(help_text="The acceptance time box.")
    responded_at = models.DateTimeField(null=True, blank=True)
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rejection_reason = models.TextField(blank=True, max_length=MAX_REASON)
    is_ping_pong = models.BooleanField(default=False, help_text="Bounces back to a person or team it just left.")
    ping_pong_reason = models.TextField(blank=True, max_length=MAX_REASON)
    accept_breached_at = models.DateTimeField(null=True, blank=True)
    history = AuditHistory()

    class Meta:
        ordering = ["offered_at"]
        constraints = [
            # One pending offer per case at a time.
            models.UniqueConstraint(
                fields=["incident"], condition=Q(status="offered"), name="handoff_one_offer_per_incident"
            ),
            models.CheckConstraint(
                condition=Q(to_user__isnull=False) | Q(to_team__isnull=False), name="handoff_has_receiver"
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(rejection_reason=""), name="handoff_reject_has_reason"
            ),
            models.CheckConstraint(condition=~Q(summary="") & ~Q(next_steps=""), name="handoff_packet_core_fields"),
        ]
        indexes = [
            # Sweep: offered packets whose acceptance time box has passed.
            models.Index(fields=["accept_due_at"], condition=Q(status="offered"), name="handoff_accept_due_idx"),
            # Receiver's inbox: offers to me.
            models.Index(fields=["to_user", "status"], name="handoff_inbox_idx"),
            # Weekly review: handoffs offered in a range of weeks.
            models.Index(fields=["offered_at"], name="handoff_offered_idx"),
        ]

    def __str__(self) -> str:
        to = self.to_user or self.to_team
        return f"Handoff {self.incident_id}: {self.from_user} → {to}"

    @property
    def case_reference(self) -> str:
        """The case's reference without loading the case."""
        return reference_for(self.incident_id)
