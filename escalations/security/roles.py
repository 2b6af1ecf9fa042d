"""The five roles and their permissions: one table, used by the roles migration and by
`load_playbook` (which re-syncs it idempotently)."""

from __future__ import annotations

CS_AGENTS = "CS Agents"
DUTY_MANAGERS = "Duty Managers"
ENGINEERS = "Engineers"
MANAGERS = "Managers"
POLICY_ADMINS = "Policy Admins"
INTEGRATIONS = "Integrations"

_READ_REFERENCE = [
    "view_customer",
    "view_team",
    "view_channel",
    "view_shift",
    "view_severitypolicy",
    "view_escalationstep",
    "view_triggerrule",
    "view_soptemplate",
    "view_soptemplateitem",
    "view_businesscalendar",
    "view_holiday",
    "view_breachcauseoption",
]
_WORK_CASES = [
    "view_incident",
    "change_incident",
    "view_clockpause",
    "add_clockpause",
    "change_clockpause",
    "view_customerupdate",
    "add_customerupdate",
    "view_checklist",
    "view_checklistitem",
    "change_checklistitem",
    "view_handoffpacket",
    "add_handoffpacket",
    "change_handoffpacket",
    "view_caseevent",
    "view_breach",
    "view_slawarning",
    "view_escalation",
    "view_resolvecycle",
    "view_postmortem",
    "view_postmortemactionitem",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    CS_AGENTS: [*_READ_REFERENCE, *_WORK_CASES, "add_incident"],
    ENGINEERS: [
        *_READ_REFERENCE,
        *_WORK_CASES,
        "add_postmortem",
        "change_postmortem",
        "add_postmortemactionitem",
        "change_postmortemactionitem",
    ],
    DUTY_MANAGERS: [
        *_READ_REFERENCE,
        *_WORK_CASES,
        "add_incident",
        "view_review",
        "view_all_incidents",
        "start_drill",
        "view_notification",
        "change_notification",
        "view_sweepheartbeat",
        "change_shift",
        "add_shift",
    ],
    MANAGERS: [
        *_READ_REFERENCE,
        *_WORK_CASES,
        "add_incident",
        "view_review",
        "view_all_incidents",
        "reassign_incident",
        "start_drill",
        "downgrade_severity",
        "approve_escalation",
        "change_breach",
        "view_notification",
        "change_notification",
        "view_sweepheartbeat",
        "add_postmortem",
        "change_postmortem",
        "add_postmortemactionitem",
        "change_postmortemactionitem",
        "view_historicalincident",
        "view_servicecreditrule",
        "view_executiveescalationrequest",
        "view_servicecreditrequest",
        "auth.view_user",
        # The weekly digest's schedule: the Managers who receive it set when it comes.
        "view_digestschedule",
        "add_digestschedule",
        "change_digestschedule",
    ],
    POLICY_ADMINS: [
        *_READ_REFERENCE,
        "view_incident",
        "view_caseevent",
        "view_breach",
        "view_notification",
        "view_sweepheartbeat",
        "view_servicecreditrule",
        *[
            f"{action}_{model}"
            for model in (
                "severitypolicy",
                "escalationstep",
                "triggerrule",
                "soptemplate",
                "soptemplateitem",
                "team",
                "shift",
                "channel",
                "businesscalendar",
                "holiday",
                "customer",
                "staffprofile",
                "servicecreditrule",
            )
            for action in ("add", "change", "delete")
        ],
        "change_notification",
        # The breach-cause list: causes are retired (made inactive), never deleted.
        "add_breachcauseoption",
        "change_breachcauseoption",
        # Picking users (shift rosters, team members, chain steps) in the admin.
        "auth.view_user",
    ],
    # Monitoring, CRM and chat tools: they send signals to the intake endpoint and read
    # nothing back but the case's id, reference, status and link.
    INTEGRATIONS: ["submit_intake"],
}

# Roles whose members work in the Django admin (is_staff is set for them by seed_demo
# and should be set by whoever creates such users).
STAFF_ROLES = (MANAGERS, POLICY_ADMINS)


def qualified(codename: str) -> tuple[str, str]:
    """'view_user' style names belong to escalations; 'auth.view_user' names its app."""
    app_label, _, name = codename.rpartition(".")
    return app_label or "escalations", name


def sync_roles(*, Group, Permission, table: dict[str, list[str]] | None = None) -> None:
    """Create the groups and set exactly the permissions of ``table`` (default: the one
    above); idempotent. Takes the model classes so a migration can pass its historical
    ones (and its own frozen table)."""
    from django.db.models import Q

    for name, codenames in (table or ROLE_PERMISSIONS).items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = {qualified(c) for c in codenames}
        condition = Q(pk__in=[])
        for app_label, codename in wanted:
            condition |= Q(content_type__app_label=app_label, codename=codename)
        perms = list(Permission.objects.filter(condition).select_related("content_type"))
        missing = wanted - {(p.content_type.app_label, p.codename) for p in perms}
        if missing:
            raise RuntimeError(f"unknown permissions for {name}: {sorted(missing)}")
        group.permissions.set(perms)
