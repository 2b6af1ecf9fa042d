"""Statuses and kinds, and the one table of allowed moves between statuses."""

from __future__ import annotations

from django.db import models


class SeverityKey(models.TextChoices):
    S1 = "S1", "S1 — critical"
    S2 = "S2", "S2 — major"
    S3 = "S3", "S3 — minor"
    S4 = "S4", "S4 — low"


class SeveritySource(models.TextChoices):
    TRIGGER = "trigger", "Trigger rule"
    MANUAL = "manual", "Set by a person"


class Status(models.TextChoices):
    NEW = "new", "New"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    INVESTIGATING = "investigating", "Investigating"
    WAITING_ON_CUSTOMER = "waiting_on_customer", "Waiting on customer"
    WAITING_ON_THIRD_PARTY = "waiting_on_third_party", "Waiting on third party"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (
    Status.NEW,
    Status.ACKNOWLEDGED,
    Status.INVESTIGATING,
    Status.WAITING_ON_CUSTOMER,
    Status.WAITING_ON_THIRD_PARTY,
)
PAUSED_STATUSES = (Status.WAITING_ON_CUSTOMER, Status.WAITING_ON_THIRD_PARTY)

# The one table of allowed status moves. Services check every transition against it.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    # A new case cannot wait on anyone: the acknowledge clock measures how fast somebody
    # answers the page, and no customer or third-party wait excuses that.
    Status.NEW: frozenset({Status.ACKNOWLEDGED, Status.RESOLVED}),
    Status.ACKNOWLEDGED: frozenset(
        {Status.INVESTIGATING, Status.WAITING_ON_CUSTOMER, Status.WAITING_ON_THIRD_PARTY, Status.RESOLVED}
    ),
    Status.INVESTIGATING: frozenset({Status.WAITING_ON_CUSTOMER, Status.WAITING_ON_THIRD_PARTY, Status.RESOLVED}),
    # Resuming returns to investigating; resolving while waiting ends the pause.
    Status.WAITING_ON_CUSTOMER: frozenset({Status.INVESTIGATING, Status.RESOLVED}),
    Status.WAITING_ON_THIRD_PARTY: frozenset({Status.INVESTIGATING, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.INVESTIGATING}),  # reopen → investigating
    Status.CLOSED: frozenset({Status.INVESTIGATING}),  # reopen
}


def can_transition(old: str, new: str) -> bool:
    return new in ALLOWED_TRANSITIONS.get(old, frozenset())


class Stage(models.TextChoices):
    TRIAGE = "triage", "Triage (Support Duty Manager)"
    COMMAND = "command", "Command (Incident Commander)"
    FIX = "fix", "Fix (Eng Fix Lead)"
    VERIFY = "verify", "Verify and close"


STAGE_ORDER = [Stage.TRIAGE, Stage.COMMAND, Stage.FIX, Stage.VERIFY]


def stage_move_allowed(current: str, target: str) -> bool:
    """Forward one stage at a time (so no stage's exit criteria are skipped), or back to
    any earlier stage (a fix that did not hold goes back to command or triage)."""
    order = [str(s) for s in STAGE_ORDER]
    return order.index(target) <= order.index(current) + 1


def stage_is_forward(current: str, target: str) -> bool:
    """Moving on from ``current``: only then must its exit criteria be met (going back to
    redo a stage needs none)."""
    order = [str(s) for s in STAGE_ORDER]
    return order.index(target) > order.index(current)


def stage_name(stage: str) -> str:
    """A stage's name without its owner, for sentences: "Fix", "Verify and close"."""
    return str(Stage(stage).label).split(" (", 1)[0]


class PauseReason(models.TextChoices):
    CUSTOMER = "customer", "Waiting on customer"
    THIRD_PARTY = "third_party", "Waiting on third party"


PAUSE_STATUS = {
    PauseReason.CUSTOMER: Status.WAITING_ON_CUSTOMER,
    PauseReason.THIRD_PARTY: Status.WAITING_ON_THIRD_PARTY,
}


class ClockKind(models.TextChoices):
    ACK = "ack", "Acknowledge"
    RESOLVE = "resolve", "Resolve"
    UPDATE = "update", "Customer update"
    HANDOFF = "handoff", "Handoff acceptance"


class BreachCause(models.TextChoices):
    """The codes of the shipped breach causes. The list people pick from is
    ``BreachCauseOption`` (Policy Admins edit it); the suggestion rules
    (``escalations.sla.causes``) and the seed name these codes. ``UNKNOWN`` is no option:
    it is how reports key breaches whose cause nobody has confirmed yet."""

    MISSING_SKILL = "missing_skill", "Missing skill"
    WAITING_ON_ENGINEERING = "waiting_on_engineering", "Waiting on engineering"
    HANDOFF_GAP = "handoff_gap", "Handoff gap"
    WRONG_SEVERITY = "wrong_severity", "Wrong severity"
    TOOLING = "tooling", "Tooling"
    THIRD_PARTY = "third_party", "Third-party delay"
    CAPACITY = "capacity", "Team at capacity"
    UNASSIGNED = "unassigned", "Nobody owned it"
    COMPLEXITY = "complexity", "Technical complexity"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Not yet reviewed"


class Tier(models.TextChoices):
    ENTERPRISE = "enterprise", "Enterprise"
    BUSINESS = "business", "Business"
    STANDARD = "standard", "Standard"


class Sentiment(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    POSITIVE = "positive", "Positive"
    NEUTRAL = "neutral", "Neutral"
    NEGATIVE = "negative", "Negative"
    AT_RISK = "at_risk", "Churn risk"


class TriggerKind(models.TextChoices):
    ARR_AT_RISK = "arr_at_risk", "ARR at risk ≥ threshold (USD)"
    USERS_AFFECTED = "users_affected_pct", "Users affected ≥ threshold (%)"
    DATA_RISK = "data_risk", "Data risk"
    LEGAL_RISK = "legal_risk", "Legal risk"
    SECURITY = "security", "Security issue"
    NO_PROGRESS = "no_progress", "No progress for longer than threshold (minutes)"


class ChainTarget(models.TextChoices):
    DUTY_MANAGER = "duty_manager", "On-duty Support Duty Manager"
    COMMANDER = "commander", "Incident Commander"
    FIX_LEAD = "fix_lead", "Eng Fix Lead (stage DRI)"
    TEAM = "team", "A team"
    USER = "user", "A named user"
    MANAGER = "manager", "Engineering/CS manager"
    EXECUTIVE = "executive", "Executive"


class HandoffStatus(models.TextChoices):
    OFFERED = "offered", "Offered"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class NotificationChannel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"
    IN_APP = "in_app", "In-app"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Suppressed (drill)"


class EventKind(models.TextChoices):
    CREATED = "created", "Case opened"
    CLOCK_STARTED = "clock_started", "Clock started"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    STATUS_CHANGED = "status_changed", "Status changed"
    PAUSED = "paused", "Clock paused"
    RESUMED = "resumed", "Clock resumed"
    SEVERITY_CHANGED = "severity_changed", "Severity changed"
    TARGETS_CHANGED = "targets_changed", "Targets changed"
    STAGE_CHANGED = "stage_changed", "Stage changed"
    ASSIGNED = "assigned", "Owner changed"
    CUSTOMER_UPDATED = "customer_updated", "Customer updated"
    CHECKLIST_ITEM_DONE = "checklist_item_done", "Checklist item done"
    CHECKLIST_ITEM_REOPENED = "checklist_item_reopened", "Checklist item reopened"
    HANDOFF_OFFERED = "handoff_offered", "Handoff offered"
    HANDOFF_ACCEPTED = "handoff_accepted", "Handoff accepted"
    HANDOFF_REJECTED = "handoff_rejected", "Handoff rejected"
    PING_PONG = "ping_pong", "Ping-pong detected"
    WARNING = "warning", "SLA warning"
    BREACHED = "breached", "SLA breached"
    MET = "met", "SLA met"
    # A resolve cycle that ended after its target; the breach itself is the sweep's event.
    MISSED = "missed", "SLA missed"
    ESCALATED = "escalated", "Escalated"
    ESCALATION_ACKNOWLEDGED = "escalation_acknowledged", "Escalation acknowledged"
    PAGED = "paged", "Paged"
    RESOLVED = "resolved", "Resolved"
    REOPENED = "reopened", "Reopened"
    CLOSED = "closed", "Closed"
    EDITED = "edited", "Details edited"
    NOTE = "note", "Note"
    BREACH_CAUSE_CONFIRMED = "breach_cause_confirmed", "Breach cause confirmed"
    EXECUTIVE_REQUESTED = "executive_requested", "Executive escalation requested"
    EXECUTIVE_DECIDED = "executive_decided", "Executive escalation decided"
    CREDIT_REQUESTED = "credit_requested", "Service credit requested"
    CREDIT_DECIDED = "credit_decided", "Service credit decided"


class ValveStatus(models.TextChoices):
    """Where a request through an escape valve stands (executive escalation, service
    credit). ``TRIGGERED``: an executive escalation an objective trigger made immediate."""

    PENDING = "pending", "Waiting for a Manager"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    TRIGGERED = "triggered", "Immediate (objective trigger)"


class ChecklistFact(models.TextChoices):
    """A fact of the case a checklist item can stand for: such an item ticks itself when
    the fact becomes true (with the actor and time of the event that made it so) and
    cannot be ticked by hand while it is false."""

    ACKNOWLEDGED = "acknowledged", "The case is acknowledged"
    FIRST_CUSTOMER_UPDATE = "first_customer_update", "A first customer update is sent"
    COMMANDER_SET = "commander_set", "An Incident Commander is named"
    BRIDGE_LINKED = "bridge_linked", "A bridge (call link) is on the case"
    RCA_SCHEDULED = "rca_scheduled", "An RCA is scheduled"


# The workspace's work queues (escalations.selectors.cases.queue_list), and the one a person
# lands on before they have opened another.
WORK_QUEUES = {
    "mine": "Mine",
    "team": "My teams",
    "unassigned": "Unassigned",
    "at_risk": "Breached / at risk",
    "all": "All open",
}
FIRST_WORK_QUEUE = "mine"
