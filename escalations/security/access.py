"""Who may: the one home of every "may this person…" rule about cases.

Seeing and changing a case: ``incident_access_q`` is the rule as a filter (the
selectors put it on every case query, so a case the user may not see is a 404
everywhere: queues, search, the case page, every API endpoint, timelines, history);
``case_rows_q`` is the same rule for rows that belong to a case; ``may_see_case`` and
``may_change_case`` answer it for one case in hand (the case page's forms, the admin's
object checks, the services that take a case). Owning one: ``may_own_case`` and its
query twin ``case_workers``. The decisions beyond changing a case each have one function
(``may_reassign``, ``may_hand_off``, ``may_set_below_floor``, ``may_decide_valves``,
``may_review_breach_causes``, ``may_start_drill``, ``may_edit_postmortem``…), called by
the services and by the pages that offer the action.

A case is visible to:
- everyone holding ``view_all_incidents`` (Duty Managers, Managers);
- members of its team;
- the people on it: its creator, stage DRI and commander;
- anyone a handoff of it was offered to or offered by (earlier DRIs), and the members
  of a team it was handed to;
- anyone paged about it (they must be able to open what they are asked to acknowledge);
- for reading only, all staff, when its team opened its cases (``Team.open_read_access``).

Changing it needs the same, less the open-team clause, plus the role's change permission.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q

from escalations.sla.triggers import SEVERITY_ORDER, below_floor

VIEW_CASES = "escalations.view_incident"
CHANGE_CASES = "escalations.change_incident"
VIEW_ALL = "escalations.view_all_incidents"
REASSIGN = "escalations.reassign_incident"
START_DRILL = "escalations.start_drill"
SUBMIT_INTAKE = "escalations.submit_intake"
VIEW_REVIEW = "escalations.view_review"
APPROVE_ESCALATION = "escalations.approve_escalation"
CHANGE_POSTMORTEM = "escalations.change_postmortem"
DOWNGRADE = "escalations.downgrade_severity"
CHANGE_BREACH = "escalations.change_breach"


def user_is_staff_member(user) -> bool:
    """Signed in, active, and holding a case role."""
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(VIEW_CASES))


def user_may_change_cases(user) -> bool:
    return user_is_staff_member(user) and user.has_perm(CHANGE_CASES)


def may_see_manager_pages(user) -> bool:
    """The managers' side (handoff audit, weekly review, breach review, RCAs): Duty
    Managers and Managers. Everyone else gets a 404, so the pages' existence is not
    advertised."""
    return user_is_staff_member(user) and user.has_perm(VIEW_REVIEW)


def may_own_case(user) -> bool:
    """Who may own a case (stage DRI, commander), be offered one or own an RCA action
    item: active people whose role works cases. Integrations, Policy Admins and
    inactive accounts may not."""
    return bool(user is not None and user.is_active and user.has_perm(CHANGE_CASES))


def case_workers():
    """``may_own_case`` as a query: the people forms and the API offer as owners."""
    from django.contrib.auth import get_user_model

    app_label, codename = CHANGE_CASES.split(".")
    perm = {"codename": codename, "content_type__app_label": app_label}
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(**{f"groups__permissions__{k}": v for k, v in perm.items()})
            | Q(**{f"user_permissions__{k}": v for k, v in perm.items()})
        )
        .distinct()
        .order_by("first_name", "username")
    )


def not_a_case_worker(pk) -> str:
    """The refusal for an owner who may not own a case, worded exactly as for an id
    that names nobody: the answer must not tell which accounts exist."""
    return f"Nobody who works cases has the id {pk}."


def sees_every_case(user) -> bool:
    return user.has_perm(VIEW_ALL)


def incident_access_q(user, *, for_change: bool = False) -> Q:
    """The cases ``user`` may see (``for_change``: may change) as a filter on Incident.
    Each clause is a column or an EXISTS, never a join, so a row matches at most once.
    The role checks (``user_is_staff_member``, ``user_may_change_cases``) come first, in
    ``may_see_case`` / ``may_change_case`` and the selectors."""
    from escalations.models import HandoffPacket, Notification, Team

    if sees_every_case(user):
        return Q()
    my_teams = Team.members.through.objects.filter(user_id=user.pk).values("team_id")
    handed = HandoffPacket.objects.filter(incident_id=OuterRef("pk")).filter(
        Q(to_user_id=user.pk) | Q(from_user_id=user.pk) | Q(to_team_id__in=my_teams)
    )
    paged = Notification.objects.filter(incident_id=OuterRef("pk"), recipient_id=user.pk)
    q = (
        Q(team_id__in=my_teams)
        | Q(created_by_id=user.pk)
        | Q(stage_dri_id=user.pk)
        | Q(commander_id=user.pk)
        | Q(Exists(handed))
        | Q(Exists(paged))
    )
    if not for_change:
        # A subquery, not a join: the queues' index carries team_id, not the team's flag.
        q |= Q(team_id__in=Team.objects.filter(open_read_access=True).values("pk"))
    return q


def case_rows_q(user, case_field: str = "incident", *, null_is_visible: bool = False) -> Q:
    """Rows that belong to a case (breaches, handoffs, events…) whose case ``user`` may
    see, as a filter on those rows: ``incident_access_q`` through ``case_field``, as a
    subquery of visible case ids. ``null_is_visible``: a row with no case is shown."""
    from escalations.models import Incident

    if sees_every_case(user):
        return Q()
    visible = Q(**{f"{case_field}__in": Incident.objects.filter(incident_access_q(user)).values("pk")})
    return (visible | Q(**{f"{case_field}__isnull": True})) if null_is_visible else visible


def _case_matches(user, incident, *, for_change: bool) -> bool:
    from escalations.models import Incident

    if sees_every_case(user):
        return True
    # Asked once per person and case instance: a page asks it for several actions.
    answers = incident.__dict__.setdefault("_access_answers", {})
    key = (user.pk, for_change)
    if key not in answers:
        matching = Incident.objects.filter(pk=incident.pk).filter(incident_access_q(user, for_change=for_change))
        answers[key] = matching.exists()
    return answers[key]


def may_see_case(user, incident) -> bool:
    """Whether ``user`` may see this case: ``incident_access_q`` for one case already
    loaded (one EXISTS, none for someone who sees every case). The selectors' accessor
    ``incident_get_for_user`` answers the same with a 404."""
    return user_is_staff_member(user) and _case_matches(user, incident, for_change=False)


def may_change_case(user, incident) -> bool:
    """Whether ``user`` may change this case: a role that changes cases and the case in
    ``incident_access_q(for_change=True)`` (a case seen only through its team's open
    read access is read-only). Every case action's door (``incident_get_for_user(…,
    for_change=True)``) and the case page's forms follow it."""
    return user_may_change_cases(user) and _case_matches(user, incident, for_change=True)


def may_edit_postmortem(user, incident) -> bool:
    """A case's RCA is written by the people who may change the case (its team, owners,
    those it was handed to; Managers, who see every case) holding the RCA permission
    (Engineers and Managers). Everyone else who may see the case reads it."""
    if not user.has_perm(CHANGE_POSTMORTEM):
        return False
    return may_change_case(user, incident)


# --- Decisions beyond "may change the case": each one function, for every door ---------


def may_reassign(user, incident) -> bool:
    """Owners (stage DRI, commander) and the team change through a handoff; a plain edit
    of them, when the slot is filled, is for the current stage DRI, the commander or a
    Manager (``reassign_incident``)."""
    if user.has_perm(REASSIGN):
        return True
    return user.pk is not None and user.pk in (incident.stage_dri_id, incident.commander_id)


def may_hand_off(user, incident) -> bool:
    """Who hands a case off or moves its stage: the stage DRI, the commander or a Manager
    (``may_reassign``), or, while nobody owns the stage, anyone who may change the case."""
    return incident.stage_dri_id is None or may_reassign(user, incident)


def may_answer_handoff(user, handoff) -> bool:
    """The named receiver, or — for a packet offered to a team — any member of it other
    than the sender (nobody accepts their own offer)."""
    if handoff.from_user_id == user.pk:
        return False
    if handoff.to_user_id is not None:
        return handoff.to_user_id == user.pk
    return handoff.to_team is not None and handoff.to_team.members.filter(pk=user.pk).exists()


def may_withdraw_handoff(user, handoff) -> bool:
    """The sender withdraws an unanswered offer; a Manager (``reassign_incident``) may
    withdraw anyone's."""
    return handoff.from_user_id == user.pk or user.has_perm(REASSIGN)


def may_set_below_floor(user) -> bool:
    """A severity below what the triggers give (the severity floor), or facts that lower
    the floor, are a Manager's decision (``downgrade_severity``)."""
    return user.has_perm(DOWNGRADE)


def severities_open_to(user, incident) -> tuple[str, ...]:
    """The severities ``user`` may move this case to: every other one, less those below
    its severity floor unless they may set one (``may_set_below_floor``). The case
    page offers exactly these; ``services.intake.check_severity_choice`` refuses the rest."""
    floor = incident.trigger_severity or None
    allowed = may_set_below_floor(user)
    return tuple(key for key in SEVERITY_ORDER if key != incident.severity and (allowed or not below_floor(key, floor)))


def may_decide_valves(user) -> bool:
    """Approving or denying executive escalations and service credits: an active
    Manager (``approve_escalation``). Never their own request (four eyes):
    ``selectors.valves.decision_refusal``."""
    return bool(user.is_active and user.has_perm(APPROVE_ESCALATION))


def may_review_breach_causes(user) -> bool:
    """Confirming breach causes: Duty Managers and Managers (the review queue), and
    whoever may change breaches in the admin."""
    return may_see_manager_pages(user) or user.has_perm(CHANGE_BREACH)


def may_start_drill(user) -> bool:
    """A drill suppresses every page it raises, so opening one is a privilege (Duty
    Managers and Managers: ``start_drill``)."""
    return user.has_perm(START_DRILL)


@dataclass(frozen=True)
class CaseMay:
    """What one person may do to one case, for a page that offers the actions: each field
    is one of the functions above, asked once. Nothing is allowed beyond ``change``."""

    change: bool
    reassign: bool
    hand_off: bool
    severities: tuple[str, ...]
    edit_postmortem: bool
    works_cases: bool  # their role changes cases (a read-only case is then read-only by access)


def case_may(user, incident) -> CaseMay:
    change = may_change_case(user, incident)
    return CaseMay(
        change=change,
        reassign=change and may_reassign(user, incident),
        hand_off=change and may_hand_off(user, incident),
        severities=severities_open_to(user, incident) if change else (),
        edit_postmortem=may_edit_postmortem(user, incident),
        works_cases=user_may_change_cases(user),
    )


def is_integration(user) -> bool:
    """An integration account: may send intake signals and nothing else."""
    return user.has_perm(SUBMIT_INTAKE) and not user.has_perm(VIEW_CASES)
