"""The five roles and their permissions: one table, used by the roles migration and by
`load_playbook` (which re-syncs it idempotently)."""

from __future__ import annotations

CS_AGENTS = "CS Agents"
DUTY_MANAGERS = "Duty Managers"
ENGINEERS = "Engineers"
MANAGERS = "Managers"
POLICY_ADMINS = "Policy Admins"

_READ_REFERENCE = [
    "view_customer", "view_team", "view_channel", "view_shift", "view_severitypolicy", "view_escalationstep",
    "view_triggerrule", "view_soptemplate", "view_soptemplateitem", "view_businesscalendar", "view_holiday",
]
_WORK_CASES = [
    "view_incident", "change_incident",
    "view_clockpause", "add_clockpause", "change_clockpause",
    "view_customerupdate", "add_customerupdate",
    "view_checklist", "view_checklistitem", "change_checklistitem",
    "view_handoffpacket", "add_handoffpacket", "change_handoffpacket",
    "view_caseevent", "view_breach", "view_slawarning", "view_escalation", "view_resolvecycle",
    "view_postmortem", "view_postmortemactionitem",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    CS_AGENTS: [*_READ_REFERENCE, *_WORK_CASES, "add_incident"],
    ENGINEERS: [*_READ_REFERENCE, *_WORK_CASES, "add_postmortem", "change_postmortem", "add_postmortemactionitem",
                "change_postmortemactionitem"],
    DUTY_MANAGERS: [*_READ_REFERENCE, *_WORK_CASES, "add_incident", "view_review", "view_notification",
                    "view_sweepheartbeat", "change_shift", "add_shift"],
    MANAGERS: [*_READ_REFERENCE, *_WORK_CASES, "add_incident", "view_review", "downgrade_severity",
               "approve_escalation", "change_breach", "view_notification", "view_sweepheartbeat",
               "add_postmortem", "change_postmortem", "add_postmortemactionitem", "change_postmortemactionitem",
               "view_historicalincident"],
    POLICY_ADMINS: [
        *_READ_REFERENCE, "view_incident", "view_caseevent", "view_breach", "view_notification", "view_sweepheartbeat",
        *[f"{action}_{model}" for model in (
            "severitypolicy", "escalationstep", "triggerrule", "soptemplate", "soptemplateitem", "team", "shift",
            "channel", "businesscalendar", "holiday", "customer", "staffprofile",
        ) for action in ("add", "change", "delete")],
        "change_notification",
    ],
}

# Roles whose members work in the Django admin (is_staff is set for them by seed_demo
# and should be set by whoever creates such users).
STAFF_ROLES = (MANAGERS, POLICY_ADMINS)


def sync_roles(*, Group, Permission) -> None:
    """Create the groups and set exactly the permissions above (idempotent). Takes the
    model classes so a migration can pass its historical ones."""
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = list(Permission.objects.filter(codename__in=set(codenames), content_type__app_label="escalations"))
        missing = set(codenames) - {p.codename for p in perms}
        if missing:
            raise RuntimeError(f"unknown permissions for {name}: {sorted(missing)}")
        group.permissions.set(perms)
