"""Who may see and change a case: the one home of the rule.

The selectors filter every case query through ``incident_access_q`` (so a case the user
may not see is a 404 everywhere: queues, search, the case page, every API endpoint,
timelines, history), the services call ``may_reassign`` and ``may_start_drill``, and
the admin's ``get_queryset`` / ``has_*_permission`` call the same functions.

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

from django.db.models import Exists, OuterRef, Q

VIEW_CASES = "escalations.view_incident"
CHANGE_CASES = "escalations.change_incident"
VIEW_ALL = "escalations.view_all_incidents"
REASSIGN = "escalations.reassign_incident"
START_DRILL = "escalations.start_drill"
SUBMIT_INTAKE = "escalations.submit_intake"
VIEW_REVIEW = "escalations.view_review"
APPROVE_ESCALATION = "escalations.approve_escalation"
CHANGE_POSTMORTEM = "escalations.change_postmortem"


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
    Each clause is a column or an EXISTS, never a join, so a row matches at most once."""
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


def incident_may_access(user, incident, *, for_change: bool = False) -> bool:
    """``incident_access_q`` for one case already loaded (the admin's object checks)."""
    from escalations.models import Incident

    if not (user_may_change_cases(user) if for_change else user_is_staff_member(user)):
        return False
    if sees_every_case(user):
        return True
    return Incident.objects.filter(pk=incident.pk).filter(incident_access_q(user, for_change=for_change)).exists()


def may_edit_postmortem(user, incident) -> bool:
    """A case's RCA is written by the people who may change the case (its team, owners,
    those it was handed to; Managers, who see every case) holding the RCA permission
    (Engineers and Managers). Everyone else who may see the case reads it."""
    if not user.has_perm(CHANGE_POSTMORTEM):
        return False
    return incident_may_access(user, incident, for_change=True)


def may_reassign(user, incident) -> bool:
    """Owners (stage DRI, commander) change through a handoff; a plain edit of them is
    for the current stage DRI, the commander or a Manager."""
    if user.has_perm(REASSIGN):
        return True
    return user.pk is not None and user.pk in (incident.stage_dri_id, incident.commander_id)


def may_start_drill(user) -> bool:
    """A drill suppresses every page it raises, so opening one is a privilege."""
    return user.has_perm(START_DRILL)


def is_integration(user) -> bool:
    """An integration account: may send intake signals and nothing else."""
    return user.has_perm(SUBMIT_INTAKE) and not user.has_perm(VIEW_CASES)
