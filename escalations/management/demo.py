"""Demo data for development: one user per role, teams, shifts around now, customers, and
about 25 cases built through the same services the product uses (intake, acknowledge,
pause, customer updates, handoffs, resolve, reopen, close), dated in the past.

Idempotent: users, teams, customers and shifts are looked up before they are created, and
each demo case carries external_id "demo-<n>"; a case that exists is skipped whole. Each
case and its script run in one transaction, so a failure never leaves half a case."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from escalations import roles
from escalations.choices import PauseReason, Stage, Tier
from escalations.models import Channel, Customer, Incident, Shift, ShiftRole, Team
from escalations.services.checklists import checklist_item_set_done, open_required_items
from escalations.services.common import audited_create, system_user
from escalations.services.customer_updates import customer_update_post
from escalations.services.handoffs import handoff_accept, handoff_offer
from escalations.services.incidents import (
    incident_acknowledge,
    incident_close,
    incident_pause,
    incident_reopen,
    incident_resolve,
    incident_resume,
    incident_update,
)
from escalations.services.intake import incident_create
from escalations.services.playbook import playbook_load
from escalations.services.profiles import staff_profile_set_timezone
from escalations.services.severity import incident_change_severity

DEMO_EXTERNAL_PREFIX = "demo-"


@dataclass(frozen=True)
class DemoUser:
    key: str
    username: str
    first_name: str
    last_name: str
    group: str | None
    timezone: str
    superuser: bool = False

    @property
    def password(self) -> str:
        # Demo-only credentials, printed by seed_demo. Set with set_password (validators
        # are for people choosing passwords, not for fixtures).
        return f"{self.username}-demo-pass"


USERS = [
    DemoUser("agent", "agent", "Alice", "Agent", roles.CS_AGENTS, "Europe/London"),
    DemoUser("agent2", "agent2", "Bruno", "Agent", roles.CS_AGENTS, "America/New_York"),
    DemoUser("dm", "dm", "Dana", "Duty-Manager", roles.DUTY_MANAGERS, "Europe/Berlin"),
    DemoUser("engineer", "engineer", "Erin", "Engineer", roles.ENGINEERS, "Europe/Dublin"),
    DemoUser("manager", "manager", "Mia", "Manager", roles.MANAGERS, "Europe/London"),
    DemoUser("policy", "policy", "Pat", "Policy-Admin", roles.POLICY_ADMINS, "UTC"),
    DemoUser("admin", "admin", "Ada", "Admin", None, "UTC", superuser=True),
]

TEAMS = [
    {
        "name": "Support EMEA",
        "slug": "support-emea",
        "email": "support-emea@example.com",
        "members": ["agent", "agent2", "dm"],
    },
    {
        "name": "Support Americas",
        "slug": "support-americas",
        "email": "support-americas@example.com",
        "members": ["agent2", "dm"],
    },
    {
        "name": "Platform Engineering",
        "slug": "platform-engineering",
        "email": "platform@example.com",
        "members": ["engineer", "manager"],
    },
]

# (team slug, user key, role): each gets a shift from now - 12 h to now + 12 h.
SHIFTS = [
    ("support-emea", "dm", ShiftRole.DUTY_MANAGER),
    ("support-emea", "agent", ShiftRole.ON_DUTY),
    ("support-emea", "dm", ShiftRole.COMMANDER),
    ("support-emea", "manager", ShiftRole.MANAGER),
    ("support-americas", "dm", ShiftRole.DUTY_MANAGER),
    ("support-americas", "agent2", ShiftRole.ON_DUTY),
    ("platform-engineering", "engineer", ShiftRole.FIX_LEAD),
    ("platform-engineering", "manager", ShiftRole.MANAGER),
]

CUSTOMERS = [
    ("Umbrella Health", Decimal("2400000"), Tier.ENTERPRISE),
    ("Northwind Traders", Decimal("1200000"), Tier.ENTERPRISE),
    ("Contoso Retail", Decimal("850000"), Tier.ENTERPRISE),
    ("Globex Logistics", Decimal("420000"), Tier.BUSINESS),
    ("Stark Analytics", Decimal("300000"), Tier.BUSINESS),
    ("Initech Payroll", Decimal("180000"), Tier.BUSINESS),
    ("Wayne Media", Decimal("60000"), Tier.STANDARD),
    ("Tyrell Biotech", Decimal("45000"), Tier.STANDARD),
]

BRIDGE = "https://meet.example.com/incident-bridge"

# Each case: intake values, how long ago it was reported, and a script of
# (minutes after report, step, actor key, arguments) run through the services.
CASES: list[dict[str, Any]] = [
    {
        "n": 1,
        "title": "Patient export shows another tenant's records",
        "customer": "Umbrella Health",
        "channel": "monitoring",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 2.5,
        "facts": {"data_risk": True},
        "script": [
            (3, "ack", "dm", {}),
            (5, "own", "dm", {"commander": "dm", "bridge_url": BRIDGE}),
            (15, "update", "dm", {"body": "We have isolated the export service while we investigate."}),
            (45, "update", "dm", {"body": "Root cause narrowed to a caching layer; exports stay disabled."}),
            (75, "update", "dm", {"body": "Fix in review; next update in 30 minutes."}),
            (105, "update", "dm", {"body": "Fix deploying to the affected region."}),
        ],
    },
    {
        "n": 2,
        "title": "Checkout failing for 30 % of EU shoppers",
        "customer": "Contoso Retail",
        "channel": "phone",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 1.0,
        "facts": {"users_affected_pct": 30},
        "script": [
            (4, "ack", "agent", {}),
            (6, "own", "dm", {"commander": "dm", "bridge_url": BRIDGE}),
            (20, "update", "agent", {"body": "Engineers are on the bridge; payments provider ruled out."}),
            (
                25,
                "handoff",
                "agent",
                {
                    "to": "engineer",
                    "summary": "EU checkout errors after deploy 4812",
                    "customer_impact": "30 % of EU shoppers cannot pay",
                    "next_steps": "Roll back deploy 4812 or hotfix the tax service",
                },
            ),
        ],
    },
    {
        "n": 3,
        "title": "Payroll run stuck before the bank cut-off",
        "customer": "Initech Payroll",
        "channel": "email",
        "team": "support-americas",
        "by": "agent2",
        "hours_ago": 6.0,
        "facts": {"arr_at_risk": 180000},
        "script": [
            (10, "ack", "agent2", {}),
            (30, "update", "agent2", {"body": "Batch worker restarted; monitoring."}),
            (50, "tick", "agent2", {}),
            (90, "update", "agent2", {"body": "Run is 80 % through."}),
            (120, "resolve", "agent2", {"resolution": "Restarted the batch worker; the run completed on time."}),
        ],
    },
    {
        "n": 4,
        "title": "Dashboards blank after the upgrade",
        "customer": "Globex Logistics",
        "channel": "portal",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 3.0,
        "facts": {"arr_at_risk": 60000},
        "script": [
            (12, "ack", "agent", {}),
            (40, "update", "agent", {"body": "Reproduced on Chrome only; asking for a HAR."}),
            (
                55,
                "pause",
                "agent",
                {"reason": PauseReason.CUSTOMER, "note": "Waiting for the HAR file from the customer"},
            ),
        ],
    },
    {
        "n": 5,
        "title": "Carrier API timeouts on label printing",
        "customer": "Globex Logistics",
        "channel": "email",
        "team": "support-americas",
        "by": "agent2",
        "hours_ago": 5.0,
        "facts": {"arr_at_risk": 90000},
        "script": [
            (8, "ack", "agent2", {}),
            (30, "update", "agent2", {"body": "Timeouts traced to the carrier's gateway."}),
            (
                45,
                "pause",
                "agent2",
                {"reason": PauseReason.THIRD_PARTY, "note": "ShipFast investigating their gateway"},
            ),
            (150, "resume", "agent2", {}),
            (160, "update", "agent2", {"body": "Carrier fixed their gateway; verifying labels."}),
        ],
    },
    {
        "n": 6,
        "title": "SSO login loop for admin users",
        "customer": "Northwind Traders",
        "channel": "portal",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 4.0,
        "facts": {"arr_at_risk": 120000},
        "script": [
            (6, "ack", "agent", {}),
            (
                20,
                "handoff",
                "agent",
                {
                    "to": "agent2",
                    "summary": "SAML assertion rejected for admins",
                    "customer_impact": "Admins cannot log in; users unaffected",
                    "next_steps": "Compare the IdP metadata with ours",
                    "accept": True,
                },
            ),
            (50, "update", "agent2", {"body": "Found a stale signing certificate; rotating it."}),
        ],
    },
    {
        "n": 7,
        "title": "Invoice PDFs missing line items",
        "customer": "Stark Analytics",
        "channel": "email",
        "team": "support-americas",
        "by": "agent2",
        "hours_ago": 9.0,
        "facts": {},
        "script": [
            (30, "ack", "agent2", {}),
            (120, "update", "agent2", {"body": "Template fix deployed."}),
            (200, "resolve", "agent2", {"resolution": "Fixed the invoice template."}),
            (300, "reopen", "agent2", {"reason": "Customer reports the same on credit notes."}),
            (320, "update", "agent2", {"body": "Looking at the credit-note template too."}),
        ],
    },
    {
        "n": 8,
        "title": "Slow search on the product catalogue",
        "customer": "Wayne Media",
        "channel": "portal",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 2.0,
        "facts": {},
        "script": [],
    },
    {
        "n": 9,
        "title": "CSV import rejects files with a UTF-8 BOM",
        "customer": "Tyrell Biotech",
        "channel": "email",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 7.0,
        "facts": {},
        "script": [
            (45, "ack", "agent", {}),
            (90, "update", "agent", {"body": "Workaround sent: save without BOM."}),
            (180, "resolve", "agent", {"resolution": "Importer now strips the BOM."}),
            (200, "close", "agent", {}),
        ],
    },
    {
        "n": 10,
        "title": "Webhook retries flooding the customer's endpoint",
        "customer": "Northwind Traders",
        "channel": "api",
        "team": "platform-engineering",
        "by": "agent",
        "hours_ago": 1.5,
        "facts": {"arr_at_risk": 75000},
        "script": [
            (5, "ack", "engineer", {}),
            (25, "update", "agent", {"body": "Retries paused for this endpoint while we fix the backoff."}),
        ],
    },
    {
        "n": 11,
        "title": "Legal hold export incomplete",
        "customer": "Umbrella Health",
        "channel": "email",
        "team": "support-emea",
        "by": "dm",
        "hours_ago": 4.0,
        "facts": {"legal_risk": True},
        "script": [
            (2, "ack", "dm", {}),
            (4, "own", "dm", {"commander": "manager", "bridge_url": BRIDGE}),
            (30, "update", "dm", {"body": "Legal and engineering on the bridge."}),
            (60, "update", "dm", {"body": "Missing mailboxes identified; re-export running."}),
        ],
    },
    {
        "n": 12,
        "title": "Drill: region-wide outage simulation",
        "customer": "Contoso Retail",
        "channel": "monitoring",
        "team": "support-emea",
        "by": "dm",
        "hours_ago": 1.0,
        "facts": {"data_risk": True},
        "is_drill": True,
        "script": [(2, "ack", "dm", {}), (10, "update", "dm", {"body": "Drill: first customer update."})],
    },
    {
        "n": 13,
        "title": "Report scheduler sends duplicate emails",
        "customer": "Stark Analytics",
        "channel": "portal",
        "team": "support-americas",
        "by": "agent2",
        "hours_ago": 3.0,
        "facts": {},
        "script": [
            (30, "severity", "agent2", {"severity": "S2", "reason": "The customer's board pack goes out tonight."}),
            (35, "ack", "agent2", {}),
        ],
    },
    {
        "n": 14,
        "title": "Mobile app crashes on Android 15",
        "customer": "Wayne Media",
        "channel": "crm",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 6.0,
        "facts": {},
        "script": [(60, "ack", "agent", {})],
    },
    {
        "n": 15,
        "title": "Renewal at risk: raised through the account manager",
        "customer": "Northwind Traders",
        "channel": "account-manager",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 2.0,
        "facts": {"arr_at_risk": 250000},
        # Raised on a channel that is not agreed: the clocks start when it is logged on email.
        "script": [(30, "edit", "agent", {"channel": "email"}), (40, "ack", "agent", {})],
    },
    {
        "n": 16,
        "title": "Data residency question from an auditor",
        "customer": "Umbrella Health",
        "channel": "exec-email",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 1.0,
        "facts": {},
        "script": [],
    },
    {
        "n": 17,
        "title": "API rate limits too aggressive after a plan change",
        "customer": "Globex Logistics",
        "channel": "api",
        "team": "support-americas",
        "by": "agent2",
        "hours_ago": 8.0,
        "facts": {"arr_at_risk": 55000},
        "script": [
            (20, "ack", "agent2", {}),
            (50, "update", "agent2", {"body": "Limits raised temporarily."}),
            (110, "update", "agent2", {"body": "Plan mapping corrected."}),
            (130, "tick", "agent2", {}),
            (150, "resolve", "agent2", {"resolution": "Plan mapping corrected; limits back to contract."}),
        ],
    },
    {
        "n": 18,
        "title": "Email notifications delayed by two hours",
        "customer": "Initech Payroll",
        "channel": "monitoring",
        "team": "support-americas",
        "by": "dm",
        "hours_ago": 10.0,
        "facts": {"users_affected_pct": 12},
        "script": [
            (3, "ack", "dm", {}),
            (5, "own", "dm", {"commander": "dm", "bridge_url": BRIDGE}),
            (20, "update", "dm", {"body": "Mail queue backlog; adding workers."}),
            (50, "update", "dm", {"body": "Backlog draining."}),
            (60, "tick", "dm", {}),
            (90, "resolve", "dm", {"resolution": "Queue workers scaled; backlog cleared."}),
        ],
    },
    {
        "n": 19,
        "title": "Password reset emails land in spam",
        "customer": "Tyrell Biotech",
        "channel": "email",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 5.0,
        "facts": {},
        "script": [],
    },
    {
        "n": 20,
        "title": "Bulk user provisioning fails above 500 users",
        "customer": "Contoso Retail",
        "channel": "crm",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 3.5,
        "facts": {"arr_at_risk": 50000},
        "script": [
            (15, "ack", "agent", {}),
            (30, "pause", "agent", {"reason": PauseReason.CUSTOMER, "note": "Waiting for the customer's SCIM logs"}),
            (90, "resume", "agent", {}),
            (95, "update", "agent", {"body": "Logs received; paging issue found."}),
            (
                100,
                "handoff",
                "agent",
                {
                    "to": "dm",
                    "summary": "SCIM paging breaks above 500 users",
                    "customer_impact": "New hires cannot be provisioned",
                    "next_steps": "Decide on a hotfix window",
                    "accept": True,
                },
            ),
        ],
    },
    {
        "n": 21,
        "title": "Audit log gaps on weekends",
        "customer": "Stark Analytics",
        "channel": "portal",
        "team": "support-americas",
        "by": "agent2",
        "hours_ago": 2.5,
        "facts": {},
        "script": [
            (20, "ack", "agent2", {}),
            (
                40,
                "handoff",
                "agent2",
                {
                    "to": "engineer",
                    "summary": "Weekend audit events missing",
                    "customer_impact": "Compliance report incomplete",
                    "next_steps": "Check the weekend archiver job",
                },
            ),
        ],
    },
    {
        "n": 22,
        "title": "Time zone shown wrong on invoices",
        "customer": "Wayne Media",
        "channel": "email",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 8.0,
        "facts": {},
        "severity": "S4",
        "severity_reason": "Cosmetic; the amounts are right.",
        "script": [(120, "ack", "agent", {})],
    },
    {
        "n": 23,
        "title": "Storage quota alerts firing falsely",
        "customer": "Globex Logistics",
        "channel": "monitoring",
        "team": "platform-engineering",
        "by": "engineer",
        "hours_ago": 1.0,
        "facts": {},
        "script": [],
    },
    {
        "n": 24,
        "title": "Checkout latency spikes at peak",
        "customer": "Contoso Retail",
        "channel": "monitoring",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 0.5,
        "facts": {"arr_at_risk": 200000},
        "script": [],
    },
    {
        "n": 25,
        "title": "Single sign-on certificate expiring",
        "customer": "Northwind Traders",
        "channel": "email",
        "team": "support-emea",
        "by": "agent",
        "hours_ago": 11.0,
        "facts": {},
        "script": [
            (30, "ack", "agent", {}),
            (60, "update", "agent", {"body": "Asked the IdP vendor for a new cert."}),
            (70, "pause", "agent", {"reason": PauseReason.THIRD_PARTY, "note": "Waiting on the IdP vendor"}),
        ],
    },
]


@dataclass
class DemoResult:
    users: list[tuple[DemoUser, bool]] = field(default_factory=list)  # (spec, created now)
    created: dict[str, int] = field(default_factory=dict)
    cases_skipped: int = 0


def demo_seed(*, now: datetime) -> DemoResult:
    """Load the playbook and create the demo data that is missing. ``now`` is the real
    present: cases are dated before it, shifts run from now - 12 h to now + 12 h."""
    result = DemoResult(created={"teams": 0, "customers": 0, "shifts": 0, "cases": 0})
    system = system_user()
    playbook_load(actor=system)
    users = _users(result, actor=system)
    teams = _teams(result, users, actor=system)
    for team_slug, user_key, role in SHIFTS:
        team, user = teams[team_slug], users[user_key]
        if not Shift.objects.filter(team=team, user=user, role=role, starts_at__lte=now, ends_at__gt=now).exists():
            audited_create(
                Shift,
                history_user=system,
                team=team,
                user=user,
                role=role,
                starts_at=now - timedelta(hours=12),
                ends_at=now + timedelta(hours=12),
            )
            result.created["shifts"] += 1
    customers = {}
    for name, arr, tier in CUSTOMERS:
        customer = Customer.objects.filter(name=name).first()
        if customer is None:
            customer = audited_create(
                Customer,
                history_user=system,
                name=name,
                arr=arr,
                tier=tier,
                contacts=f"Ops lead, ops@{name.split()[0].lower()}.example.com",
            )
            result.created["customers"] += 1
        customers[name] = customer
    channels = {c.slug: c for c in Channel.objects.all()}
    existing = set(
        Incident.objects.filter(external_id__startswith=DEMO_EXTERNAL_PREFIX).values_list("external_id", flat=True)
    )
    for spec in CASES:
        if f"{DEMO_EXTERNAL_PREFIX}{spec['n']}" in existing:
            result.cases_skipped += 1
            continue
        with transaction.atomic():
            _case(spec, now=now, users=users, teams=teams, customers=customers, channels=channels)
        result.created["cases"] += 1
    return result


def _users(result: DemoResult, *, actor) -> dict:
    User = get_user_model()
    groups = {g.name: g for g in Group.objects.filter(name__in=[u.group for u in USERS if u.group])}
    users = {}
    for spec in USERS:
        user = User.objects.filter(username=spec.username).first()
        created = user is None
        staff = spec.superuser or spec.group in roles.STAFF_ROLES
        if created:
            user = User(
                username=spec.username,
                first_name=spec.first_name,
                last_name=spec.last_name,
                email=f"{spec.username}@example.com",
                is_staff=staff,
                is_superuser=spec.superuser,
            )
            user.set_password(spec.password)
            user.save()
        elif user.is_staff != staff and staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        if spec.group and not user.groups.filter(pk=groups[spec.group].pk).exists():
            user.groups.add(groups[spec.group])
        staff_profile_set_timezone(user=user, timezone=spec.timezone, actor=actor)
        result.users.append((spec, created))
        # A fresh instance: permission caches must not predate the group membership.
        users[spec.key] = User.objects.get(pk=user.pk)
    return users


def _teams(result: DemoResult, users: dict, *, actor) -> dict[str, Team]:
    teams = {}
    for spec in TEAMS:
        team = Team.objects.filter(slug=spec["slug"]).first()
        if team is None:
            team = audited_create(Team, history_user=actor, name=spec["name"], slug=spec["slug"], email=spec["email"])
            result.created["teams"] += 1
        # Only add who is missing: an add() of existing members would still write history.
        have = set(team.members.values_list("pk", flat=True))
        missing = [users[key] for key in spec["members"] if users[key].pk not in have]
        if missing:
            team.members.add(*missing)
        teams[spec["slug"]] = team
    return teams


def _case(spec: dict, *, now: datetime, users: dict, teams: dict, customers: dict, channels: dict) -> Incident:
    reported = now - timedelta(hours=spec["hours_ago"])
    incident = incident_create(
        actor=users[spec["by"]],
        title=spec["title"],
        customer=customers[spec["customer"]],
        channel=channels[spec["channel"]],
        team=teams[spec["team"]],
        now=reported,
        reported_at=reported,
        external_id=f"{DEMO_EXTERNAL_PREFIX}{spec['n']}",
        is_drill=spec.get("is_drill", False),
        severity=spec.get("severity"),
        severity_reason=spec.get("severity_reason", ""),
        description=f"Demo case {spec['n']}.",
        **spec["facts"],
    )
    for minutes, step, actor_key, args in spec["script"]:
        at = reported + timedelta(minutes=minutes)
        _step(incident.pk, step, actor=users[actor_key], at=at, args=args, users=users, channels=channels)
    return incident


def _step(pk: int, step: str, *, actor, at: datetime, args: dict, users: dict, channels: dict) -> None:
    """One scripted action, through the service a person's click would call."""
    if step == "ack":
        incident_acknowledge(incident=pk, actor=actor, now=at)
    elif step == "update":
        customer_update_post(incident=pk, body=args["body"], channel=None, actor=actor, now=at)
    elif step == "pause":
        incident_pause(incident=pk, reason=args["reason"], note=args["note"], actor=actor, now=at)
    elif step == "resume":
        incident_resume(incident=pk, actor=actor, now=at)
    elif step == "own":
        incident_update(
            incident=pk, actor=actor, now=at, commander=users[args["commander"]], bridge_url=args["bridge_url"]
        )
    elif step == "edit":
        incident_update(incident=pk, actor=actor, now=at, channel=channels[args["channel"]])
    elif step == "tick":
        incident = Incident.objects.get(pk=pk)
        for item in open_required_items(incident, incident.stage):
            checklist_item_set_done(item=item, done=True, actor=actor, now=at)
    elif step == "handoff":
        handoff = handoff_offer(
            incident=pk,
            actor=actor,
            now=at,
            to_stage=Incident.objects.get(pk=pk).stage or Stage.TRIAGE,
            to_user=users[args["to"]],
            summary=args["summary"],
            customer_impact=args["customer_impact"],
            next_steps=args["next_steps"],
            actions_taken="See the timeline.",
        )
        if args.get("accept"):
            handoff_accept(handoff=handoff, actor=users[args["to"]], now=at + timedelta(minutes=8))
    elif step == "severity":
        incident_change_severity(incident=pk, severity=args["severity"], reason=args["reason"], actor=actor, now=at)
    elif step == "resolve":
        incident_resolve(incident=pk, resolution=args["resolution"], actor=actor, now=at)
    elif step == "reopen":
        incident_reopen(incident=pk, reason=args["reason"], actor=actor, now=at)
    elif step == "close":
        incident_close(incident=pk, actor=actor, now=at)
    else:  # a typo in CASES must fail loudly, not skip a step
        raise ValueError(f"unknown demo step {step!r}")
