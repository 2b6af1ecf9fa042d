"""The service layer: every write to the domain goes through a function here.
Views, the API, the admin and Celery tasks are thin doors onto these."""

from escalations.errors import InvalidTransition, NotAllowed, RuleViolation, ServiceError, VersionConflict
from escalations.services.case_edits import incident_patch, incident_set_stage, incident_update
from escalations.services.checklists import checklist_item_set_done, checklists_instantiate
from escalations.services.common import event_record, system_user
from escalations.services.customer_updates import customer_update_post
from escalations.services.handoffs import handoff_accept, handoff_cancel, handoff_offer, handoff_reject
from escalations.services.incidents import (
    incident_acknowledge,
    incident_close,
    incident_pause,
    incident_reopen,
    incident_resolve,
    incident_resume,
)
from escalations.services.intake import incident_create
from escalations.services.severity import incident_change_severity

__all__ = [
    "InvalidTransition",
    "NotAllowed",
    "RuleViolation",
    "ServiceError",
    "VersionConflict",
    "checklist_item_set_done",
    "checklists_instantiate",
    "customer_update_post",
    "event_record",
    "handoff_accept",
    "handoff_cancel",
    "handoff_offer",
    "handoff_reject",
    "incident_acknowledge",
    "incident_change_severity",
    "incident_close",
    "incident_create",
    "incident_patch",
    "incident_pause",
    "incident_reopen",
    "incident_resolve",
    "incident_resume",
    "incident_set_stage",
    "incident_update",
    "system_user",
]
