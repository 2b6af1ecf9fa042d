from escalations.models.breaches import Breach, BreachCauseOption, Escalation, SlaWarning
from escalations.models.cases import Incident, ResolveCycle, pk_from_reference, reference_for
from escalations.models.checklists import Checklist, ChecklistItem, SOPTemplate, SOPTemplateItem
from escalations.models.clocks import ClockPause
from escalations.models.comms import CustomerUpdate
from escalations.models.digests import DigestDelivery, DigestSchedule, Weekday
from escalations.models.events import CaseEvent
from escalations.models.handoffs import PACKET_FIELDS, HandoffPacket
from escalations.models.notifications import Notification
from escalations.models.ops import FormSubmission, SweepHeartbeat
from escalations.models.org import (
    BusinessCalendar,
    Channel,
    ChannelKind,
    Customer,
    Holiday,
    Shift,
    ShiftRole,
    StaffProfile,
    Team,
)
from escalations.models.policies import EscalationStep, SeverityPolicy, TriggerRule
from escalations.models.postmortems import (
    Postmortem,
    PostmortemActionItem,
    PostmortemStatus,
    RcaReminder,
    ReminderStage,
)
from escalations.models.review import ReviewWeek
from escalations.models.security import AccessAction, AccessEvent, ApiToken
from escalations.models.valves import (
    ExecutiveEscalationRequest,
    ServiceCreditBreach,
    ServiceCreditRequest,
    ServiceCreditRule,
)

__all__ = [
    "PACKET_FIELDS",
    "AccessAction",
    "AccessEvent",
    "ApiToken",
    "Breach",
    "BreachCauseOption",
    "BusinessCalendar",
    "CaseEvent",
    "Channel",
    "ChannelKind",
    "Checklist",
    "ChecklistItem",
    "ClockPause",
    "Customer",
    "CustomerUpdate",
    "DigestDelivery",
    "DigestSchedule",
    "Escalation",
    "EscalationStep",
    "ExecutiveEscalationRequest",
    "FormSubmission",
    "HandoffPacket",
    "Holiday",
    "Incident",
    "Notification",
    "Postmortem",
    "PostmortemActionItem",
    "PostmortemStatus",
    "RcaReminder",
    "ReminderStage",
    "ResolveCycle",
    "ReviewWeek",
    "SOPTemplate",
    "SOPTemplateItem",
    "ServiceCreditBreach",
    "ServiceCreditRequest",
    "ServiceCreditRule",
    "SeverityPolicy",
    "Shift",
    "ShiftRole",
    "SlaWarning",
    "StaffProfile",
    "SweepHeartbeat",
    "Team",
    "TriggerRule",
    "Weekday",
    "pk_from_reference",
    "reference_for",
]
