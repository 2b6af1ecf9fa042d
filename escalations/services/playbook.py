"""The playbook's shipped defaults, loaded idempotently: what exists is left as the
Policy Admins edited it; only what is missing is created.

S3 and S4 targets (our choice, documented in README): S3 acknowledge 4 business hours,
resolve 3 business days (24 h), update daily (8 business hours); S4 acknowledge 1
business day (8 h), resolve 10 business days (80 h), update every 3 business days."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

from django.db import transaction

from escalations.choices import ChainTarget, ChecklistFact, Stage, TriggerKind
from escalations.models import (
    BusinessCalendar,
    Channel,
    ChannelKind,
    EscalationStep,
    SeverityPolicy,
    SOPTemplate,
    SOPTemplateItem,
    TriggerRule,
)
from escalations.security.roles import sync_roles
from escalations.services.breach_causes import breach_causes_load
from escalations.services.common import audited_create, system_user
from escalations.sla import severity_rank

H = timedelta(hours=1)
M = timedelta(minutes=1)

CALENDARS = [
    {"name": "24x7", "is_24x7": True, "timezone": "UTC"},
    {
        "name": "Business hours (London)",
        "is_24x7": False,
        "timezone": "Europe/London",
        "workdays": "0,1,2,3,4",
        "day_start": time(9),
        "day_end": time(17),
    },
]

POLICIES = [
    {
        "key": "S1",
        "name": "Critical",
        "ack_target": 5 * M,
        "resolve_target": 2 * H,
        "update_cadence": 30 * M,
        "calendar": "24x7",
        "pages_on_intake": True,
        "requires_commander": True,
        "requires_bridge": True,
        "requires_rca": True,
        "allows_executive_escalation": True,
        "handoff_accept_within": 10 * M,
        "description": "Data or legal risk, or 10 % or more of the customer's users affected.",
    },
    {
        "key": "S2",
        "name": "Major",
        "ack_target": 30 * M,
        "resolve_target": 8 * H,
        "update_cadence": 60 * M,
        "calendar": "24x7",
        "pages_on_intake": True,
        "requires_commander": False,
        "requires_bridge": False,
        "requires_rca": True,
        "allows_executive_escalation": False,
        "handoff_accept_within": 15 * M,
        "description": "$50,000 or more of ARR at risk.",
    },
    {
        "key": "S3",
        "name": "Minor",
        "ack_target": 4 * H,
        "resolve_target": 24 * H,
        "update_cadence": 8 * H,
        "calendar": "Business hours (London)",
        "handoff_accept_within": 2 * H,
        "description": "Business-hours calendar.",
    },
    {
        "key": "S4",
        "name": "Low",
        "ack_target": 8 * H,
        "resolve_target": 80 * H,
        "update_cadence": 24 * H,
        "calendar": "Business hours (London)",
        "handoff_accept_within": 4 * H,
        "description": "Business-hours calendar.",
    },
]

CHAINS = {
    "S1": [
        (1, ChainTarget.DUTY_MANAGER, 0 * M),
        (2, ChainTarget.COMMANDER, 5 * M),
        (3, ChainTarget.FIX_LEAD, 10 * M),
        (4, ChainTarget.MANAGER, 15 * M),
        (5, ChainTarget.EXECUTIVE, 30 * M),
    ],
    "S2": [
        (1, ChainTarget.DUTY_MANAGER, 0 * M),
        (2, ChainTarget.COMMANDER, 30 * M),
        (3, ChainTarget.FIX_LEAD, 60 * M),
        (4, ChainTarget.MANAGER, 120 * M),
    ],
    "S3": [(1, ChainTarget.DUTY_MANAGER, 0 * M), (2, ChainTarget.MANAGER, 4 * H)],
    "S4": [(1, ChainTarget.DUTY_MANAGER, 0 * M)],
}

TRIGGERS = [
    {"name": "Data risk", "kind": TriggerKind.DATA_RISK, "severity": "S1"},
    {"name": "Legal risk", "kind": TriggerKind.LEGAL_RISK, "severity": "S1"},
    {
        "name": "10 % or more of users affected",
        "kind": TriggerKind.USERS_AFFECTED,
        "threshold": Decimal(10),
        "severity": "S1",
    },
    {
        "name": "$50,000 or more ARR at risk",
        "kind": TriggerKind.ARR_AT_RISK,
        "threshold": Decimal(50000),
        "severity": "S2",
    },
]

CHANNELS = [
    {"name": "Support email", "slug": "email", "kind": ChannelKind.EMAIL, "agreed": True},
    {"name": "Support phone line", "slug": "phone", "kind": ChannelKind.PHONE, "agreed": True},
    {"name": "Support portal", "slug": "portal", "kind": ChannelKind.PORTAL, "agreed": True},
    {"name": "Monitoring", "slug": "monitoring", "kind": ChannelKind.MONITORING, "agreed": True},
    {"name": "CRM integration", "slug": "crm", "kind": ChannelKind.CRM, "agreed": True},
    {"name": "API", "slug": "api", "kind": ChannelKind.API, "agreed": True},
    {"name": "Account manager (not agreed)", "slug": "account-manager", "kind": ChannelKind.OTHER, "agreed": False},
    {"name": "Executive email (not agreed)", "slug": "exec-email", "kind": ChannelKind.EMAIL, "agreed": False},
]

SOPS = [
    {
        "name": "S1 first hour (triage)",
        "severity": "S1",
        "stage": Stage.TRIAGE,
        "play": "S1 play — first hour.\n1. Acknowledge the page within 5 minutes.\n2. Name an Incident Commander and open "
        "the bridge.\n3. Confirm the impact facts with the customer.\n4. First customer update within 30 minutes, "
        "then every 30 minutes.\n5. Hand to command with a full packet.",
        "items": [
            ("Acknowledge the page", True),
            ("Incident Commander named", True),
            ("Incident bridge opened and linked", True),
            ("Impact facts confirmed with the customer", True),
            ("First customer update sent", True),
            ("Executive sponsor informed (only if the policy says so)", False),
        ],
    },
    {
        "name": "S1 command",
        "severity": "S1",
        "stage": Stage.COMMAND,
        "play": "The IC runs the bridge, owns trade-offs and keeps the 30-minute customer cadence.",
        "items": [("Eng Fix Lead engaged", True), ("Workaround assessed", True), ("Status page updated", False)],
    },
    {
        "name": "S1 fix",
        "severity": "S1",
        "stage": Stage.FIX,
        "play": "The Eng Fix Lead owns the technical fix and reports to the IC.",
        "items": [("Root cause hypothesis written down", True), ("Fix deployed", True)],
    },
    {
        "name": "S1 verify and close",
        "severity": "S1",
        "stage": Stage.VERIFY,
        "play": "Verify with the customer, schedule the RCA, close.",
        "items": [("Customer confirmed restoration", True), ("RCA scheduled", True)],
    },
    {
        "name": "S2 first hour (triage)",
        "severity": "S2",
        "stage": Stage.TRIAGE,
        "play": "S2 play — first hour.\n1. Acknowledge within 30 minutes.\n2. Confirm ARR at risk and impact.\n"
        "3. Customer update every 60 minutes.\n4. Decide whether an IC is needed.",
        "items": [
            ("Acknowledge the page", True),
            ("Impact and ARR at risk confirmed", True),
            ("First customer update sent", True),
            ("Decide whether to name an IC", False),
        ],
    },
    {
        "name": "S2 command",
        "severity": "S2",
        "stage": Stage.COMMAND,
        "play": "The Support Duty Manager (or the IC, if one was named) coordinates engineering and the customer, "
        "keeps the 60-minute customer cadence and raises to S1 if the impact grows. Exit: Eng Fix Lead engaged and "
        "workaround assessed.",
        "items": [
            ("Eng Fix Lead engaged", True),
            ("Workaround assessed", True),
            ("Severity re-checked against the triggers", False),
        ],
    },
    {
        "name": "S2 fix",
        "severity": "S2",
        "stage": Stage.FIX,
        "play": "The Eng Fix Lead owns the technical fix and reports to the case owner; customer updates stay every "
        "60 minutes. Exit: fix deployed.",
        "items": [("Root cause hypothesis written down", True), ("Fix deployed", True)],
    },
    {
        "name": "S2 verify and close",
        "severity": "S2",
        "stage": Stage.VERIFY,
        "play": "Verify with the customer and close.",
        "items": [("Customer confirmed restoration", True)],
    },
    # S3 and S4 run on business hours. Triage gates only on acknowledgement: the first
    # customer update is measured by its own clock and ticks itself when sent, and a
    # case answered at once is resolved from triage (the resolution is the update).
    {
        "name": "S3 triage",
        "severity": "S3",
        "stage": Stage.TRIAGE,
        "play": "S3 play — business hours (Mon–Fri 09:00–17:00 London).\n1. Acknowledge within 4 business hours.\n"
        "2. The Support Duty Manager owns triage: confirm the impact and check it against the triggers (data or "
        "legal risk, 10 % of users, $50,000 ARR) — raise the severity if one matches.\n3. First customer update, "
        "then one every business day.\n4. Write the next step and its owner on the case.\nExit: acknowledged and "
        "the customer told (the update, or the resolution).",
        "items": [
            ("Acknowledge the case", True),
            ("First customer update sent", False),
            ("Impact checked against the triggers", False),
            ("Next step and owner written on the case", False),
        ],
    },
    {
        "name": "S3 command",
        "severity": "S3",
        "stage": Stage.COMMAND,
        "play": "No bridge or IC needed. The stage owner agrees the plan with the customer, brings in engineering "
        "through the team queue if needed and keeps the daily update. Exit: plan shared with the customer.",
        "items": [
            ("Plan and next update time shared with the customer", True),
            ("Eng Fix Lead engaged (if engineering is needed)", False),
            ("Workaround offered", False),
        ],
    },
    {
        "name": "S3 fix",
        "severity": "S3",
        "stage": Stage.FIX,
        "play": "The Eng Fix Lead (or the case owner, for a configuration or how-to fix) owns the fix in business "
        "hours and notes progress on the case each business day. Exit: fix or accepted workaround in place.",
        "items": [("Cause or workaround written down", True), ("Fix or accepted workaround in place", True)],
    },
    {
        "name": "S3 verify and close",
        "severity": "S3",
        "stage": Stage.VERIFY,
        "play": "The case owner checks with the customer that it works, updates the known-issue notes and closes.",
        "items": [("Customer confirmed restoration", True), ("Known-issue or help-centre note updated", False)],
    },
    {
        "name": "S4 triage",
        "severity": "S4",
        "stage": Stage.TRIAGE,
        "play": "S4 play — business hours, low urgency.\n1. Acknowledge within 1 business day.\n2. The Support "
        "Duty Manager owns triage: confirm it is cosmetic or has a workaround; if the impact is larger, raise the "
        "severity.\n3. First customer update, then at least every 3 business days.\nExit: acknowledged and the "
        "customer told (the update, or the resolution).",
        "items": [
            ("Acknowledge the case", True),
            ("First customer update sent", False),
            ("Workaround shared with the customer", False),
        ],
    },
    {
        "name": "S4 command",
        "severity": "S4",
        "stage": Stage.COMMAND,
        "play": "No bridge or IC. The stage owner picks the route — a fix in the normal release train, a backlog "
        "ticket or a documented workaround — and tells the customer. Exit: route agreed with the customer.",
        "items": [
            ("Route agreed with the customer (fix, backlog or workaround)", True),
            ("Engineering ticket linked", False),
        ],
    },
    {
        "name": "S4 fix",
        "severity": "S4",
        "stage": Stage.FIX,
        "play": "The Eng Fix Lead ships the fix in the normal release train (or the case owner delivers the "
        "workaround); the customer hears from us at least every 3 business days. Exit: fix or workaround delivered.",
        "items": [("Fix or workaround delivered", True)],
    },
    {
        "name": "S4 verify and close",
        "severity": "S4",
        "stage": Stage.VERIFY,
        "play": "The case owner confirms with the customer and closes.",
        "items": [("Customer confirmed restoration", True)],
    },
]


# Default items that stand for a fact of the case: they tick themselves (ChecklistFact).
FACT_LINKS = {
    "Acknowledge the page": ChecklistFact.ACKNOWLEDGED,
    "Acknowledge the case": ChecklistFact.ACKNOWLEDGED,  # S3/S4 do not page at intake
    "First customer update sent": ChecklistFact.FIRST_CUSTOMER_UPDATE,
    "Incident Commander named": ChecklistFact.COMMANDER_SET,
    "Incident bridge opened and linked": ChecklistFact.BRIDGE_LINKED,
    "RCA scheduled": ChecklistFact.RCA_SCHEDULED,
}


def playbook_load(*, actor=None) -> dict[str, int]:
    """Create the missing defaults and re-sync the roles. Returns what was created."""
    from django.contrib.auth.models import Group, Permission

    actor = actor or system_user()
    created = {"calendars": 0, "policies": 0, "chain_steps": 0, "triggers": 0, "channels": 0, "sop_templates": 0}
    with transaction.atomic():
        sync_roles(Group=Group, Permission=Permission)
        calendars = {}
        for spec in CALENDARS:
            cal = BusinessCalendar.objects.filter(name=spec["name"]).first()
            if cal is None:
                cal = audited_create(BusinessCalendar, history_user=actor, **spec)
                created["calendars"] += 1
            calendars[spec["name"]] = cal
        for spec in POLICIES:
            if SeverityPolicy.objects.filter(key=spec["key"]).exists():
                continue
            values = {
                **spec,
                "rank": severity_rank(spec["key"]),
                "calendar": calendars[spec["calendar"]],
                "review_by": _next_quarter_end(),
            }
            audited_create(SeverityPolicy, history_user=actor, **values)
            created["policies"] += 1
        policies = {p.key: p for p in SeverityPolicy.objects.all()}
        for key, steps in CHAINS.items():
            policy = policies.get(key)
            if policy is None or policy.chain.exists():
                continue
            for level, target, wait in steps:
                if not policy.chain_may_reach(target):
                    continue
                audited_create(EscalationStep, history_user=actor, policy=policy, level=level, target=target, wait=wait)
                created["chain_steps"] += 1
        for spec in TRIGGERS:
            if not TriggerRule.objects.filter(name=spec["name"]).exists():
                audited_create(TriggerRule, history_user=actor, **spec)
                created["triggers"] += 1
        for spec in CHANNELS:
            if not Channel.objects.filter(slug=spec["slug"]).exists():
                audited_create(Channel, history_user=actor, **spec)
                created["channels"] += 1
        for spec in SOPS:
            # Its history too: a default a Policy Admin renamed or deleted stays so.
            name = spec["name"]
            if SOPTemplate.objects.filter(name=name).exists() or SOPTemplate.history.filter(name=name).exists():
                continue
            items = spec["items"]
            template = audited_create(
                SOPTemplate, history_user=actor, **{k: v for k, v in spec.items() if k != "items"}
            )
            for order, (text, required) in enumerate(items, start=1):
                audited_create(
                    SOPTemplateItem,
                    history_user=actor,
                    template=template,
                    order=order,
                    text=text,
                    required=required,
                    fact=FACT_LINKS.get(text, ""),
                )
            created["sop_templates"] += 1
        created["breach_causes"] = breach_causes_load(actor=actor)
    return created


def _next_quarter_end(today: date | None = None) -> date:
    today = today or date.today()
    quarter_end_month = ((today.month - 1) // 3 + 1) * 3
    if quarter_end_month == 12:
        return date(today.year, 12, 31)
    return date(today.year, quarter_end_month + 1, 1) - timedelta(days=1)


__all__ = ["playbook_load"]
