"""The case (Incident) and its per-cycle resolve results."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from escalations.choices import (
    OPEN_STATUSES,
    PAUSED_STATUSES,
    PauseReason,
    Sentiment,
    SeverityKey,
    SeveritySource,
    Stage,
    Status,
)
from escalations.lib.text import MAX_LONG_TEXT, MAX_REASON
from escalations.models.history import AuditHistory
from escalations.models.org import Channel, Customer, Team
from escalations.models.policies import SeverityPolicy
from escalations.sla.clock import breached_clocks

REFERENCE_PREFIX = "ESC-"


def reference_for(pk: int) -> str:
    return f"{REFERENCE_PREFIX}{pk:06d}"


def pk_from_reference(text: str) -> int | None:
    """'ESC-000123', 'esc-123' or '123' → 123; anything else → None."""
    text = text.strip().upper()
    if text.startswith(REFERENCE_PREFIX):
        text = text[len(REFERENCE_PREFIX) :]
    return int(text) if text.isdigit() and len(text) < 18 else None


class IncidentQuerySet(models.QuerySet):
    def open(self) -> IncidentQuerySet:
        return self.filter(status__in=OPEN_STATUSES)

    def real(self) -> IncidentQuerySet:
        """Drills never pollute real metrics."""
        return self.filter(is_drill=False)


class Incident(models.Model):
    """A customer escalation.

    The clock fields below ``clock_started_at`` are denormalised: the services recompute
    them from the pure clock functions (escalations.sla) on every change, so the sweep and
    the work queues are index range scans. ``reference`` is derived from the primary key.
    """

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=MAX_LONG_TEXT)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="incidents")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="incidents")
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="incidents")
    category = models.CharField(max_length=50, blank=True, help_text="Selects SOP templates (e.g. outage, billing).")
    external_id = models.CharField(max_length=200, blank=True, help_text="The id the case has in an integration.")
    reported_at = models.DateTimeField(help_text="When the customer raised it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    # Impact facts, from which the trigger rules compute the severity floor.
    arr_at_risk = models.DecimalField("ARR at risk (USD)", max_digits=14, decimal_places=2, default=0)
    users_affected_pct = models.DecimalField("users affected (%)", max_digits=5, decimal_places=2, default=0)
    data_risk = models.BooleanField(default=False)
    legal_risk = models.BooleanField(default=False)
    security_risk = models.BooleanField(default=False)

    severity = models.CharField(max_length=2, choices=SeverityKey.choices)
    policy = models.ForeignKey(SeverityPolicy, on_delete=models.PROTECT, related_name="incidents")
    severity_source = models.CharField(max_length=10, choices=SeveritySource.choices, default=SeveritySource.TRIGGER)
    severity_reason = models.TextField(blank=True, max_length=MAX_REASON)
    trigger_severity = models.CharField(
        max_length=2, choices=SeverityKey.choices, blank=True, help_text="The floor the trigger rules give."
    )
    trigger_explanation = models.CharField(max_length=300, blank=True)
    # When the severity last went up: a breach soon after suggests the case ran under the
    # wrong severity (escalations.sla.causes); the sweep reads it off the row it locks.
    severity_raised_at = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=30, choices=Status.choices, default=Status.NEW)
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.TRIAGE)
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="commanded_incidents"
    )
    stage_dri = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="owned_incidents",
        verbose_name="stage DRI",
    )
    bridge_url = models.URLField("incident bridge", blank=True)
    sentiment = models.CharField(max_length=10, choices=Sentiment.choices, default=Sentiment.UNKNOWN)
    is_drill = models.BooleanField(
        default=False, help_text="Practice case: never notifies anyone real, never in metrics."
    )
    resolution = models.TextField(blank=True, max_length=MAX_LONG_TEXT)

    acknowledged_at = models.DateTimeField(null=True, blank=True)
    # The acknowledge clock's counted time when it stopped: a later severity change (new
    # target, new calendar) never moves a stopped clock's figures.
    ack_elapsed_seconds = models.PositiveIntegerField(null=True, blank=True, verbose_name="time to acknowledge")
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_progress_at = models.DateTimeField(null=True, blank=True)
    last_customer_update_at = models.DateTimeField(null=True, blank=True)

    # Targets snapshotted from the policy at intake (or the last severity change), so that
    # editing a policy never silently moves an open case's deadlines.
    ack_target_seconds = models.PositiveIntegerField()
    resolve_target_seconds = models.PositiveIntegerField()
    update_cadence_seconds = models.PositiveIntegerField()
    warning_pct = models.PositiveSmallIntegerField(default=75)
    calendar_snapshot = models.JSONField(default=dict)

    # Clocks. clock_started_at is null until the case is on an agreed channel.
    clock_started_at = models.DateTimeField(null=True, blank=True)
    resolve_cycle = models.PositiveIntegerField(default=1)
    cycle_started_at = models.DateTimeField(null=True, blank=True)
    paused_since = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=20, choices=PauseReason.choices, blank=True)
    paused_seconds = models.PositiveIntegerField(default=0, help_text="Paused clock time in this resolve cycle.")
    ack_due_at = models.DateTimeField(null=True, blank=True)
    resolve_due_at = models.DateTimeField(null=True, blank=True)
    next_update_due_at = models.DateTimeField(null=True, blank=True)
    ack_warn_at = models.DateTimeField(null=True, blank=True)
    resolve_warn_at = models.DateTimeField(null=True, blank=True)
    update_warn_at = models.DateTimeField(null=True, blank=True)
    # What already fired in the current cycle (the Breach/SlaWarning rows are the record;
    # these keep next_check_at cheap to compute). A customer update clears the update
    # markers and a reopen the resolve and update ones; ack_breached_at is never cleared
    # (the acknowledge clock runs once per case): the acknowledgement is what ends that
    # breach in "breached now" (sla.clock.breached_clocks).
    ack_warned_at = models.DateTimeField(null=True, blank=True)
    ack_breached_at = models.DateTimeField(null=True, blank=True)
    resolve_warned_at = models.DateTimeField(null=True, blank=True)
    resolve_breached_at = models.DateTimeField(null=True, blank=True)
    update_warned_at = models.DateTimeField(null=True, blank=True)
    update_breached_at = models.DateTimeField(null=True, blank=True)
    update_seq = models.PositiveIntegerField(default=0, help_text="Customer updates posted so far.")
    escalation_level = models.PositiveSmallIntegerField(default=0)
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    # The earliest moment the sweep has something to do for this case (a warning, a
    # breach or the next escalation rung); null when nothing is pending.
    next_check_at = models.DateTimeField(null=True, blank=True)
    # The nearest live deadline and the case's band (escalations.sla.QueueRank), for
    # sorting work queues: breached, warning, running, then waiting or not started.
    next_deadline_at = models.DateTimeField(null=True, blank=True)
    queue_rank = models.PositiveSmallIntegerField(
        default=3, help_text="Work-queue band: 0 breached, 1 warning, 2 running, 3 waiting or not started, 4 closed."
    )

    reopen_count = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=1, help_text="Optimistic lock: bumped on every change.")

    history = AuditHistory(excluded_fields=["updated_at"])
    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("downgrade_severity", "Can set a severity below the trigger floor (Manager)"),
            ("view_review", "Can see the weekly review and handoff audit"),
            ("approve_escalation", "Can approve executive escalations and service credits"),
            ("view_all_incidents", "Can see every team's cases (Duty Manager, Manager)"),
            ("reassign_incident", "Can name a case's owners without being one (Manager)"),
            ("start_drill", "Can open drill cases, whose pages are suppressed (Duty Manager, Manager)"),
            ("submit_intake", "Can send signals to the intake endpoint (integrations)"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(users_affected_pct__gte=0, users_affected_pct__lte=100), name="incident_users_pct_0_100"
            ),
            models.CheckConstraint(condition=Q(arr_at_risk__gte=0), name="incident_arr_at_risk_not_negative"),
            models.CheckConstraint(condition=Q(version__gte=1), name="incident_version_positive"),
            models.CheckConstraint(condition=Q(resolve_cycle__gte=1), name="incident_resolve_cycle_positive"),
            models.CheckConstraint(
                condition=Q(warning_pct__gte=1, warning_pct__lte=100), name="incident_warning_pct_range"
            ),
            # A case is paused exactly when it waits on the customer or a third party.
            models.CheckConstraint(
                condition=(Q(status__in=PAUSED_STATUSES) & Q(paused_since__isnull=False) & ~Q(pause_reason=""))
                | (~Q(status__in=PAUSED_STATUSES) & Q(paused_since__isnull=True) & Q(pause_reason="")),
                name="incident_paused_iff_waiting",
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(status__in=[Status.RESOLVED, Status.CLOSED]),
                name="incident_resolved_at_only_when_resolved",
            ),
            # Intake idempotency: one case per integration, channel and external id. The key
            # is the integration's own: another integration's id never finds this case.
            models.UniqueConstraint(
                fields=["created_by", "channel", "external_id"],
                condition=~Q(external_id=""),
                name="incident_external_id_unique",
            ),
        ]
        indexes = [
            # The breach sweep: WHERE next_check_at <= now ORDER BY next_check_at
            # (a range scan over the few rows with something pending).
            models.Index(fields=["next_check_at"], condition=Q(next_check_at__isnull=False), name="incident_sweep_idx"),
            # Work queues: open cases ordered by nearest deadline, overall / mine / my team's.
            # It carries the columns of the access rule (escalations.security.access), so a queue's
            # page and its capped count are index-only scans for someone who sees a case
            # by its team or as one of its people.
            models.Index(
                fields=["queue_rank", "next_deadline_at", "severity", "-id"],
                include=["team", "created_by", "stage_dri", "commander"],
                condition=Q(status__in=OPEN_STATUSES),
                name="incident_queue_idx",
            ),
            models.Index(
                fields=["stage_dri", "queue_rank", "next_deadline_at"],
                condition=Q(status__in=OPEN_STATUSES),
                name="incident_queue_mine_idx",
            ),
            models.Index(
                fields=["team", "queue_rank", "next_deadline_at"],
                condition=Q(status__in=OPEN_STATUSES),
                name="incident_queue_team_idx",
            ),
            # The API's default order (the queue order, closed cases last) over every case.
            models.Index(fields=["queue_rank", "next_deadline_at", "severity", "-id"], name="incident_rank_idx"),
            # No-progress trigger rules: open cases idle since before a cutoff.
            models.Index(
                fields=["last_progress_at"], condition=Q(status__in=OPEN_STATUSES), name="incident_progress_idx"
            ),
            # Weekly metrics: cases reported in a week.
            models.Index(fields=["reported_at"], name="incident_reported_idx"),
            # Weekly review: cases resolved in a range of weeks (handoffs per case), and the
            # cases still open at a week's end (resolved_at IS NULL OR >= the end) with
            # their ARR and sentiment: an index-only scan, not a heap page per open case.
            models.Index(
                fields=["resolved_at"],
                include=["reported_at", "is_drill", "severity", "sentiment", "arr_at_risk"],
                name="incident_resolved_idx",
            ),
            # API list filter ?customer=&status=
            models.Index(fields=["customer", "status"], name="incident_customer_status_idx"),
            # API list filter ?status=&severity= (integrations polling for new S1/S2 cases):
            # its count and its page's ids are index-only scans, the page in id order
            # (newest first: backwards) rather than a walk down the primary key past
            # every case of another status or severity.
            models.Index(fields=["status", "severity", "id"], name="incident_status_sev_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def reference(self) -> str:
        return reference_for(self.pk) if self.pk else "ESC-(new)"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_paused(self) -> bool:
        return self.paused_since is not None

    @property
    def breached_clocks(self) -> tuple[str, ...]:
        """The clocks breached now ("ack", "resolve", "update"): ``sla.breached_clocks``
        over the stored markers."""
        return breached_clocks(
            is_open=self.is_open,
            acknowledged=self.acknowledged_at is not None,
            ack_breached=self.ack_breached_at is not None,
            resolve_breached=self.resolve_breached_at is not None,
            update_breached=self.update_breached_at is not None,
        )

    @property
    def is_breached(self) -> bool:
        """Breached now (``sla.breached_clocks``): what the API's ``breached``, its filter
        and the queues' breached band say of the case."""
        return bool(self.breached_clocks)


class ResolveCycle(models.Model):
    """One resolve cycle of a case. A reopen starts a new cycle with the full target;
    earlier cycles keep their result (met or breached)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="cycles")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    target_seconds = models.PositiveIntegerField()
    elapsed_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Clock time when it ended.")
    met = models.BooleanField(null=True, help_text="Null while the cycle is open.")
    history = AuditHistory()

    class Meta:
        ordering = ["incident", "number"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "number"], name="cycle_unique_number"),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="cycle_ends_after_start",
            ),
        ]
        indexes = [
            # Weekly review: resolve cycles that ended in a range of weeks.
            models.Index(fields=["ended_at"], name="cycle_ended_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.incident.reference} cycle {self.number}"
