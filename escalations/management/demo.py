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

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from escalations.choices import Stage, Tier
from escalations.management.demo_cases import CASES
from escalations.models import Channel, Customer, Incident, Shift, ShiftRole, Team
from escalations.security import roles
from escalations.services.case_edits import incident_update
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
