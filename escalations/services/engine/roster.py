"""Who gets told: the on-call roster at an instant and the escalation chain's targets.

The sweep resolves recipients for hundreds of cases per batch, so everything here works
from a ``Roster`` loaded once per batch (a handful of queries), never a query per case.
Building rows (Escalation, Notification) is left to the callers; this module only
answers "who, on which channels".
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model

from escalations.choices import ChainTarget, NotificationChannel, Stage
from escalations.models import EscalationStep, Incident, Shift, ShiftRole, Team
from escalations.security.roles import DUTY_MANAGERS, MANAGERS

# ``NotificationChannel.values`` builds a new list on every access; the sweep filters
# channels for every case it escalates.
KNOWN_CHANNELS = frozenset(NotificationChannel.values)


@dataclass(frozen=True)
class Recipient:
    """One delivery: a person on a channel (email, in-app) or an address (team mailbox,
    chat webhook). ``key`` is stable across sweeps so idempotency keys are too."""

    channel: str
    user_id: int | None
    address: str
    label: str

    @property
    def key(self) -> str:
        if self.user_id is not None:
            return f"u{self.user_id}"
        # Addresses can be long URLs; the idempotency key column is 200 characters.
        return "a" + hashlib.sha1(self.address.encode()).hexdigest()[:16]

    def as_dict(self) -> dict:
        return {"channel": self.channel, "user": self.user_id, "address": self.address, "label": self.label}


@dataclass
class Roster:
    """Who is on duty at ``at``, the escalation chains and the role groups, loaded once.

    ``shifts[(role, team_id)]`` lists the users on shift; ``shifts[(role, None)]`` holds
    everyone on that role whatever the team (the fallback when the case's team has
    nobody on shift); ``chains[policy_id]`` maps level → rung, as the climb
    (``escalations.sla.sweep.climb_to``) reads it."""

    at: datetime
    shifts: dict[tuple[str, int | None], list] = field(default_factory=dict)
    chains: dict[int, dict[int, EscalationStep]] = field(default_factory=dict)
    group_members: dict[str, list] = field(default_factory=dict)
    team_members: dict[int, list] = field(default_factory=dict)
    teams: dict[int, Team] = field(default_factory=dict)

    def on_shift(self, role: str, team_id: int | None) -> list:
        if team_id is not None and self.shifts.get((role, team_id)):
            return self.shifts[(role, team_id)]
        return self.shifts.get((role, None), [])


def shifts_on_duty(*, at: datetime, roles: Iterable[str] | None = None) -> dict[tuple[str, int | None], list]:
    """Who is on shift at ``at``: (role, team id) and (role, None) → active users, in
    shift-start order, each once. ``roles`` narrows the query to those roles."""
    shifts: dict[tuple[str, int | None], list] = defaultdict(list)
    query = Shift.objects.filter(starts_at__lte=at, ends_at__gt=at)  # shift_on_duty_idx
    if roles is not None:
        query = query.filter(role__in=list(roles))
    for shift in query.select_related("user").order_by("starts_at"):
        if not shift.user.is_active:
            continue
        for key in ((shift.role, shift.team_id), (shift.role, None)):
            if shift.user not in shifts[key]:
                shifts[key].append(shift.user)
    return dict(shifts)


def roster_load(*, at: datetime, team_ids: Iterable[int] = ()) -> Roster:
    """Load the roster at ``at``: four queries plus one for the members of the teams
    named by team steps or passed in ``team_ids``."""
    User = get_user_model()
    roster = Roster(at=at)
    roster.shifts = shifts_on_duty(at=at)
    chains: dict[int, dict[int, EscalationStep]] = defaultdict(dict)
    for step in EscalationStep.objects.select_related("team", "user"):
        chains[step.policy_id][step.level] = step
    roster.chains = dict(chains)
    for name in (DUTY_MANAGERS, MANAGERS):
        roster.group_members[name] = list(User.objects.filter(groups__name=name, is_active=True).order_by("pk"))
    wanted = set(team_ids) | {s.team_id for steps in roster.chains.values() for s in steps.values() if s.team_id}
    if wanted:
        roster.teams = {t.pk: t for t in Team.objects.filter(pk__in=wanted)}
        members: dict[int, list] = defaultdict(list)
        for through in Team.members.through.objects.filter(team_id__in=wanted, user__is_active=True).select_related(
            "user"
        ):
            members[through.team_id].append(through.user)
        roster.team_members = dict(members)
    return roster


def duty_managers(incident: Incident, roster: Roster) -> list:
    """The on-duty Support Duty Manager(s) for the case's team, else for any team, else
    every member of the Duty Managers group: a page must always reach somebody."""
    return roster.on_shift(ShiftRole.DUTY_MANAGER, incident.team_id) or roster.group_members.get(DUTY_MANAGERS, [])


def commanders(incident: Incident, roster: Roster) -> list:
    if incident.commander_id is not None:
        return [incident.commander]
    return roster.on_shift(ShiftRole.COMMANDER, incident.team_id)


def step_people(step: EscalationStep, incident: Incident, roster: Roster) -> tuple[list, bool]:
    """The people a chain step reaches and whether they are executives."""
    target = step.target
    if target == ChainTarget.DUTY_MANAGER:
        return duty_managers(incident, roster), False
    if target == ChainTarget.COMMANDER:
        return commanders(incident, roster), False
    if target == ChainTarget.FIX_LEAD:
        if incident.stage == Stage.FIX and incident.stage_dri_id is not None:
            return [incident.stage_dri], False
        return roster.on_shift(ShiftRole.FIX_LEAD, incident.team_id), False
    if target == ChainTarget.MANAGER:
        return roster.on_shift(ShiftRole.MANAGER, incident.team_id) or roster.group_members.get(MANAGERS, []), False
    if target == ChainTarget.EXECUTIVE:
        if not incident.policy.chain_may_reach(target):  # an old chain row naming executives
            return [], True
        return roster.on_shift(ShiftRole.EXECUTIVE, incident.team_id), True
    if target == ChainTarget.TEAM:
        return roster.team_members.get(step.team_id, []), False
    if target == ChainTarget.USER:
        return ([step.user] if step.user is not None and step.user.is_active else []), False
    return [], False


def recipients_for(
    people: Iterable, channels: Iterable[str], *, incident: Incident, roster: Roster, team: Team | None = None
) -> list[Recipient]:
    """Expand people × channels into deliveries. Webhooks go to a chat room, not a
    person: the step's team webhook, else the case team's; the team mailbox gets email."""
    channels = KNOWN_CHANNELS.intersection(channels)
    out: list[Recipient] = []
    seen: set[tuple[str, str]] = set()

    def add(recipient: Recipient) -> None:
        if (recipient.channel, recipient.key) not in seen:
            seen.add((recipient.channel, recipient.key))
            out.append(recipient)

    in_app = NotificationChannel.IN_APP in channels
    email = NotificationChannel.EMAIL in channels
    for person in people:
        label = person.get_full_name() or person.get_username()
        if in_app:
            add(Recipient(NotificationChannel.IN_APP, person.pk, "", label))
        if email and person.email:
            add(Recipient(NotificationChannel.EMAIL, person.pk, person.email, label))
    room = team or (roster.teams.get(incident.team_id) if incident.team_id else None)
    if room is None and incident.team_id is not None:
        room = incident.team
    if room is not None:
        if NotificationChannel.WEBHOOK in channels and room.webhook_url:
            add(Recipient(NotificationChannel.WEBHOOK, None, room.webhook_url, f"{room.name} chat"))
        if team is not None and NotificationChannel.EMAIL in channels and room.email:
            add(Recipient(NotificationChannel.EMAIL, None, room.email, f"{room.name} mailbox"))
    return out


def step_recipients(step: EscalationStep, incident: Incident, roster: Roster) -> tuple[list[Recipient], bool]:
    people, is_executive = step_people(step, incident, roster)
    team = roster.teams.get(step.team_id) if step.target == ChainTarget.TEAM and step.team_id else None
    if step.target == ChainTarget.EXECUTIVE and not people:
        return [], is_executive  # no executive on call: do not fall back to a chat room
    return recipients_for(people, step.channel_list(), incident=incident, roster=roster, team=team), is_executive


__all__ = [
    "Recipient",
    "Roster",
    "commanders",
    "duty_managers",
    "recipients_for",
    "roster_load",
    "step_people",
    "step_recipients",
]
