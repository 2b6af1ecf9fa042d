"""Root cause analyses: opened on resolve where the policy requires one (S1 and S2 by
default), due in business days on the case's calendar from their start or the resolve,
whichever came first, kept across a reopen; started before resolve, they meet the
Verify stage's "RCA scheduled" item so an S1 resolves from Verify; the RCA
page (access per role and per case, bad input, audit); overdue RCAs and action items
telling the owner and then the Managers, once per stage; the managers' list."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from escalations.choices import BreachCause, ChecklistFact, ClockKind, NotificationChannel, Stage
from escalations.models import (
    Breach,
    ChecklistItem,
    Holiday,
    Incident,
    Notification,
    Postmortem,
    PostmortemActionItem,
    PostmortemStatus,
    RcaReminder,
    SeverityPolicy,
)
from escalations.services import (
    RuleViolation,
    incident_close,
    incident_reopen,
    incident_resolve,
    incident_set_stage,
    incident_update,
)
from escalations.services.breach_causes import breach_cause_confirm
from escalations.services.common import audited_create, audited_save, system_user
from escalations.services.rca_deadlines import rca_deadlines_check
from tests.checklists_support import complete_checklist
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
GRACE = timedelta(hours=48)


def resolve(incident: Incident, actor, at: datetime) -> Incident:
    complete_checklist(incident, actor, at, stage=Incident.objects.get(pk=incident.pk).stage)
    return incident_resolve(incident=incident.pk, resolution="Rolled back the deploy", actor=actor, now=at)


@pytest.fixture
def s2_resolved(make_incident, agent, now):
    """An S2 (24×7 calendar) resolved on Friday 20 November 11:00 UTC."""
    return resolve(make_incident(), agent, now + H)


# --- opened on resolve -------------------------------------------------------------------


def test_the_migration_and_playbook_require_an_rca_for_s1_and_s2_only(playbook):
    required = dict(SeverityPolicy.objects.values_list("key", "requires_rca"))
    assert required == {"S1": True, "S2": True, "S3": False, "S4": False}
    assert set(SeverityPolicy.objects.values_list("rca_due_business_days", flat=True)) == {5}


def test_the_data_migration_turns_rca_on_for_existing_s1_and_s2_with_history(playbook, agent):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("escalations.migrations.0021_rca_digest")
    for key in ("S2", "S3"):
        policy = SeverityPolicy.objects.get(key=key)
        policy.requires_rca = False
        audited_save(policy, actor=agent, update_fields=["requires_rca"])
    migration.rca_required_for_s1_and_s2(apps, None)
    required = dict(SeverityPolicy.objects.values_list("key", "requires_rca"))
    assert (required["S2"], required["S3"]) == (True, False)
    latest = SeverityPolicy.objects.get(key="S2").history.order_by("-history_id").first()
    assert (latest.requires_rca, latest.history_change_reason) == (True, "RCA required for S1 and S2 by default")


def test_resolving_an_s2_opens_its_rca_due_in_five_business_days(s2_resolved, agent):
    rca = Postmortem.objects.get(incident=s2_resolved)
    # Friday → Mon, Tue, Wed, Thu, Fri 27 November; due as that day ends (UTC calendar).
    assert rca.due_at == datetime(2026, 11, 28, tzinfo=UTC)
    assert rca.author == agent  # nobody commands it; the stage DRI (the acknowledger) owns it
    assert rca.status == PostmortemStatus.DRAFT
    assert "Checkout failing for EU users" in rca.summary
    assert rca.history.get().history_user == agent


def test_the_due_date_skips_the_calendars_holidays(make_incident, agent, now):
    calendar = SeverityPolicy.objects.get(key="S2").calendar
    audited_create(Holiday, history_user=agent, calendar=calendar, date=date(2026, 11, 25), name="Company day")
    incident = resolve(make_incident(), agent, now + H)
    assert incident.postmortem.due_at == datetime(2026, 12, 1, tzinfo=UTC)


def test_the_policy_sets_the_number_of_business_days(make_incident, agent, now):
    policy = SeverityPolicy.objects.get(key="S2")
    policy.rca_due_business_days = 1
    audited_save(policy, actor=agent, update_fields=["rca_due_business_days"])
    incident = resolve(make_incident(), agent, now + H)
    assert incident.postmortem.due_at == datetime(2026, 11, 24, tzinfo=UTC)  # Monday ends


def test_resolving_an_s1_opens_an_rca_owned_by_its_commander(make_incident, agent, duty_manager, now):
    incident = make_incident(data_risk=True)
    incident_update(incident=incident, actor=agent, now=now, commander=duty_manager, bridge_url="https://m.example/1")
    incident = resolve(incident, agent, now + H)
    assert incident.severity == "S1"
    assert incident.postmortem.author == duty_manager


def test_an_s3_opens_no_rca(make_incident, agent, now):
    incident = resolve(make_incident(arr_at_risk=0), agent, now + H)
    assert incident.severity == "S3"
    assert not Postmortem.objects.filter(incident=incident).exists()


def test_a_drill_opens_no_rca(make_incident, duty_manager, now):
    incident = resolve(make_incident(actor=duty_manager, is_drill=True), duty_manager, now + H)
    assert not Postmortem.objects.filter(incident=incident).exists()


def test_reopen_and_resolve_again_keeps_the_one_rca(s2_resolved, agent, now):
    first = Postmortem.objects.get(incident=s2_resolved)
    incident_reopen(incident=s2_resolved.pk, reason="Came back", actor=agent, now=now + 30 * H)
    incident_resolve(incident=s2_resolved.pk, resolution="Fixed for real", actor=agent, now=now + 80 * H)
    assert list(Postmortem.objects.filter(incident=s2_resolved).values_list("pk", "due_at")) == [
        (first.pk, first.due_at)
    ]


# --- started before resolve --------------------------------------------------------------


def s1_in_verify(make_incident, agent, now) -> Incident:
    """An S1 walked to Verify by the agent (commander and bridge named, every item of the
    earlier stages ticked); its Verify items are open."""
    incident = make_incident(data_risk=True)
    for stage in (Stage.COMMAND, Stage.FIX, Stage.VERIFY):
        complete_checklist(incident, agent, now, stage=Incident.objects.get(pk=incident.pk).stage)
        incident = incident_set_stage(incident=incident.pk, stage=stage, actor=agent, now=now)
    complete_checklist(incident, agent, now, stage=Stage.VERIFY)  # all but "RCA scheduled"
    return incident


def rca_item(incident: Incident) -> ChecklistItem:
    return ChecklistItem.objects.get(checklist__incident=incident, fact=ChecklistFact.RCA_SCHEDULED)


def test_an_rca_started_before_resolve_is_due_from_its_start_and_ticks_its_item(
    client, make_incident, agent, manager, now, time_machine
):
    incident = s1_in_verify(make_incident, agent, now)
    with pytest.raises(RuleViolation) as refused:
        incident_resolve(incident=incident.pk, resolution="Restored", actor=agent, now=now + H)
    assert refused.value.code == "checklist_open" and "RCA scheduled" in refused.value.message

    started = now + 2 * H  # Friday 20 November, 12:00 UTC
    time_machine.move_to(started, tick=False)
    client.force_login(manager)
    assert client.post(rca_url(incident), form_data()).status_code == 302

    rca = Postmortem.objects.get(incident=incident)
    # Five business days of the S1 calendar (24×7, UTC) after Friday: the end of Friday 27th.
    assert rca.due_at == datetime(2026, 11, 28, tzinfo=UTC)
    assert rca.history.get().history_user == manager
    item = rca_item(incident)
    assert (item.done_by, item.done_at) == (manager, started)
    assert incident.events.filter(kind="checklist_item_done", actor=manager, new__fact="rca_scheduled").exists()
    page = client.get(rca_url(incident)).content.decode()
    assert "28 Nov 2026 00:00" in page[page.index('id="rca-due"') :][:200]


def test_an_s1_with_its_rca_started_resolves_from_verify_and_keeps_the_due_date(
    client, make_incident, agent, manager, now, time_machine
):
    incident = s1_in_verify(make_incident, agent, now)
    time_machine.move_to(now + 2 * H, tick=False)
    client.force_login(manager)
    client.post(rca_url(incident), form_data())
    due = Postmortem.objects.get(incident=incident).due_at
    history_rows = Postmortem.history.filter(incident_id=incident.pk).count()

    # Resolved the Tuesday after: a due date from the resolve would be Tuesday 1 December.
    resolved = incident_resolve(incident=incident.pk, resolution="Restored", actor=agent, now=now + 96 * H)
    assert (resolved.status, resolved.stage) == ("resolved", Stage.VERIFY)
    assert list(Postmortem.objects.filter(incident=incident).values_list("due_at", flat=True)) == [due]
    assert Postmortem.history.filter(incident_id=incident.pk).count() == history_rows
    assert incident_close(incident=incident.pk, actor=agent, now=now + 97 * H).status == "closed"


def test_an_rca_started_after_resolve_is_due_from_the_resolve(client, make_incident, agent, manager, now, time_machine):
    incident = resolve(make_incident(arr_at_risk=0), agent, now + H)  # S3: no RCA opened
    assert not Postmortem.objects.filter(incident=incident).exists()
    time_machine.move_to(now + 96 * H, tick=False)  # Tuesday 24 November
    client.force_login(manager)
    assert client.post(rca_url(incident), form_data()).status_code == 302
    # S3 runs on London business hours: five business days after Friday 20th end with
    # Friday 27th's working day, 17:00 London (UTC in November).
    assert Postmortem.objects.get(incident=incident).due_at == datetime(2026, 11, 27, 17, tzinfo=UTC)


def test_saving_an_rca_without_a_due_date_gives_it_one(make_incident, agent, manager, now, time_machine):
    from escalations.services.postmortems import postmortem_save

    time_machine.move_to(now, tick=False)  # history rows are dated by the wall clock
    incident = make_incident(data_risk=True)
    rca = Postmortem(incident=incident, author=manager, summary="Exports leaked data")
    postmortem_save(postmortem=rca, actor=manager, now=now)
    assert rca.due_at == datetime(2026, 11, 28, tzinfo=UTC)
    # Cleared later (the admin may): counted again from when the RCA was started.
    time_machine.move_to(now + 72 * H, tick=False)
    rca.due_at = None
    postmortem_save(postmortem=rca, actor=manager, now=now + 72 * H)
    assert Postmortem.objects.get(pk=rca.pk).due_at == datetime(2026, 11, 28, tzinfo=UTC)
    with pytest.raises(RuleViolation) as second:
        postmortem_save(postmortem=Postmortem(incident=incident, author=agent, summary="Again"), actor=agent, now=now)
    assert second.value.field == "incident"
    assert Postmortem.objects.filter(incident=incident).count() == 1


# --- the RCA page ------------------------------------------------------------------------


def rca_url(incident: Incident) -> str:
    return reverse("escalations:case-rca", args=[incident.pk])


def form_data(**overrides) -> dict:
    data = {
        "summary": "Checkout failed for EU users for 50 minutes",
        "root_cause": "A config push removed the EU payment route",
        "contributing_factors": "No canary for config pushes",
        "what_went_well": "",
        "what_went_wrong": "",
        "status": "draft",
        "form_token": str(uuid.uuid4()),
        "items-TOTAL_FORMS": "2",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "100",
    }
    data.update(overrides)
    return data


@pytest.fixture
def case_people(s2_resolved, engineer, team, agent, now):
    """The case belongs to the agent's team, which the engineer joins."""
    team.members.add(engineer)
    return incident_update(incident=s2_resolved.pk, actor=agent, now=now + 2 * H, team=team)


# role → (GET status, form shown, POST status)
RCA_PAGE_MATRIX = {
    "agent": (200, False, 403),  # on the case, may not write RCAs
    "engineer": (200, True, 302),  # on the case, writes RCAs
    "duty_manager": (200, False, 403),  # sees every case, may not write RCAs
    "manager": (200, True, 302),
    "policy_admin": (404, False, 403),  # not on the case; changes no case at all
    "outsider": (403, False, 403),  # no case role at all
}


@pytest.mark.parametrize("role", sorted(RCA_PAGE_MATRIX))
def test_the_rca_page_per_role(client, personas, case_people, role):
    get_status, form_shown, post_status = RCA_PAGE_MATRIX[role]
    client.force_login(personas[role])
    response = client.get(rca_url(case_people))
    assert response.status_code == get_status
    if get_status == 200:
        assert ('id="rca-form"' in response.content.decode()) == form_shown
    assert client.post(rca_url(case_people), form_data()).status_code == post_status
    saved = Postmortem.objects.get(incident=case_people).root_cause
    assert (saved == "A config push removed the EU payment route") == (post_status == 302)


def test_an_engineer_not_on_the_case_gets_404(client, s2_resolved, playbook):
    from escalations.security.roles import ENGINEERS
    from tests.conftest import _persona

    stranger = _persona("sam_engineer", ENGINEERS)
    TeamFactory(name="Elsewhere", slug="elsewhere", members=[stranger])
    client.force_login(stranger)
    assert client.get(rca_url(s2_resolved)).status_code == 404
    assert client.post(rca_url(s2_resolved), form_data()).status_code == 404


def test_saving_the_rca_and_its_action_items_is_audited_with_the_actor(client, manager, engineer, s2_resolved):
    client.force_login(manager)
    data = form_data(
        **{
            "items-0-description": "Canary config pushes",
            "items-0-owner": str(engineer.pk),
            "items-0-due_date": "2026-12-04",
        }
    )
    response = client.post(rca_url(s2_resolved), data)
    assert response.status_code == 302
    rca = Postmortem.objects.get(incident=s2_resolved)
    assert rca.contributing_factors == "No canary for config pushes"
    assert rca.history.latest().history_user == manager
    item = rca.action_items.get()
    assert (item.description, item.owner, item.due_date, item.done_at) == (
        "Canary config pushes",
        engineer,
        date(2026, 12, 4),
        None,
    )
    assert item.history.get().history_user == manager

    # Done, then published: done_at and published_at are stamped.
    data = form_data(
        status="published",
        **{
            "items-INITIAL_FORMS": "1",
            "items-0-id": str(item.pk),
            "items-0-description": "Canary config pushes",
            "items-0-owner": str(engineer.pk),
            "items-0-due_date": "2026-12-04",
            "items-0-done": "on",
        },
    )
    assert client.post(rca_url(s2_resolved), data).status_code == 302
    item.refresh_from_db()
    rca.refresh_from_db()
    assert item.done_at is not None and rca.published_at is not None
    assert item.history.latest().history_user == manager


@pytest.mark.parametrize(
    "overrides,label",
    [
        ({"summary": ""}, "Summary"),
        ({"items-0-description": "Add an alert", "items-0-due_date": "2026-12-04"}, "Owner"),
        ({"items-0-description": "Add an alert", "items-0-owner": "OWNER", "items-0-due_date": "soon"}, "Due date"),
        ({"status": "finished"}, "Status"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(client, manager, s2_resolved, overrides, label):
    client.force_login(manager)
    before = Postmortem.objects.get(incident=s2_resolved)
    history_rows = before.history.count()
    data = form_data(**{k: (str(manager.pk) if v == "OWNER" else v) for k, v in overrides.items()})
    response = client.post(rca_url(s2_resolved), data)
    assert response.status_code == 400
    assert f"✖ {label}:" in response.content.decode()
    after = Postmortem.objects.get(incident=s2_resolved)
    assert (after.summary, after.root_cause, after.history.count()) == (before.summary, "", history_rows)
    assert not PostmortemActionItem.objects.exists()


def test_the_page_shows_the_case_timeline_and_its_breach_causes(client, manager, s2_resolved, now):
    breach = audited_create(
        Breach,
        history_user=system_user(),
        incident=s2_resolved,
        kind=ClockKind.UPDATE,
        cycle=1,
        severity="S2",
        due_at=now,
        detected_at=now,
    )
    breach_cause_confirm(breach=breach, cause=BreachCause.THIRD_PARTY, note="", actor=manager, now=now)
    client.force_login(manager)
    body = client.get(rca_url(s2_resolved)).content.decode()
    assert "Third-party delay" in body and "Customer update" in body
    timeline = body[body.index('id="timeline"') :]
    assert "Acknowledged" in timeline and "Resolved" in timeline and "Rolled back the deploy" in timeline


def test_user_text_is_escaped(client, manager, s2_resolved):
    client.force_login(manager)
    client.post(rca_url(s2_resolved), form_data(root_cause="<script>alert(1)</script>"))
    body = client.get(rca_url(s2_resolved)).content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body


def test_the_case_page_links_to_its_rca(client, manager, s2_resolved):
    client.force_login(manager)
    body = client.get(reverse("escalations:case-detail", args=[s2_resolved.pk])).content.decode()
    assert f'href="{rca_url(s2_resolved)}"' in body


# --- overdue: owner, then the Managers, once per stage -----------------------------------


def notices(user) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user, payload__kind="rca_overdue").order_by("pk"))


def test_an_overdue_rca_tells_its_owner_then_the_managers_once_each(s2_resolved, agent, manager):
    rca = Postmortem.objects.get(incident=s2_resolved)
    actor = system_user()
    assert rca_deadlines_check(now=rca.due_at - H, grace=GRACE, actor=actor) == {"rca": 0, "action_item": 0}

    assert rca_deadlines_check(now=rca.due_at + H, grace=GRACE, actor=actor)["rca"] == 1
    assert {n.channel for n in notices(agent)} == {NotificationChannel.IN_APP, NotificationChannel.EMAIL}
    assert notices(manager) == []
    assert "/rca/" in notices(agent)[0].payload["links"]["rca"]
    assert rca_deadlines_check(now=rca.due_at + 2 * H, grace=GRACE, actor=actor)["rca"] == 0
    assert len(notices(agent)) == 2

    after_grace = rca.due_at + GRACE + H
    assert rca_deadlines_check(now=after_grace, grace=GRACE, actor=actor)["rca"] == 1
    assert len(notices(manager)) == 2 and len(notices(agent)) == 2
    assert rca_deadlines_check(now=after_grace + H, grace=GRACE, actor=actor)["rca"] == 0
    assert list(RcaReminder.objects.values_list("stage", flat=True).order_by("stage")) == ["manager", "owner"]
    assert RcaReminder.objects.first().history.get().history_user == actor


def test_a_published_rca_is_not_overdue(s2_resolved, agent):
    rca = Postmortem.objects.get(incident=s2_resolved)
    rca.status = PostmortemStatus.PUBLISHED
    audited_save(rca, actor=agent)
    assert rca_deadlines_check(now=rca.due_at + GRACE * 2, grace=GRACE, actor=system_user())["rca"] == 0


def test_an_overdue_action_item_tells_its_owner_then_the_managers(s2_resolved, agent, engineer, manager):
    rca = Postmortem.objects.get(incident=s2_resolved)
    rca.status = PostmortemStatus.PUBLISHED
    audited_save(rca, actor=agent)
    item = audited_create(
        PostmortemActionItem,
        history_user=agent,
        postmortem=rca,
        description="Canary config pushes",
        owner=engineer,
        due_date=date(2026, 12, 4),
    )
    actor = system_user()
    end_of_day = datetime(2026, 12, 5, tzinfo=UTC)  # the case's calendar is UTC
    assert rca_deadlines_check(now=end_of_day - H, grace=GRACE, actor=actor)["action_item"] == 0
    assert rca_deadlines_check(now=end_of_day, grace=GRACE, actor=actor)["action_item"] == 1
    assert len(notices(engineer)) == 2 and notices(manager) == []
    assert rca_deadlines_check(now=end_of_day + GRACE, grace=GRACE, actor=actor)["action_item"] == 1
    assert len(notices(manager)) == 2
    assert rca_deadlines_check(now=end_of_day + 2 * GRACE, grace=GRACE, actor=actor)["action_item"] == 0
    # A new due date is a new deadline.
    item.due_date = date(2026, 12, 20)
    audited_save(item, actor=agent)
    assert rca_deadlines_check(now=datetime(2026, 12, 21, 1, tzinfo=UTC), grace=GRACE, actor=actor) == {
        "rca": 0,
        "action_item": 1,
    }


def test_the_reminder_row_is_unique_per_deadline_and_stage(s2_resolved):
    from django.db import IntegrityError, transaction

    rca = Postmortem.objects.get(incident=s2_resolved)
    values = {"postmortem": rca, "stage": "owner", "due_at": rca.due_at, "sent_at": rca.due_at}
    audited_create(RcaReminder, history_user=system_user(), **values)
    with pytest.raises(IntegrityError), transaction.atomic():
        audited_create(RcaReminder, history_user=system_user(), **values)


def test_the_beat_schedules_the_deadline_check():
    from config.beat import BEAT_SCHEDULE
    from escalations import tasks

    entries = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    assert {"escalations.check_rca_deadlines", "escalations.send_weekly_digest"} <= entries
    assert tasks.check_rca_deadlines.name == "escalations.check_rca_deadlines"


# --- the managers' list ------------------------------------------------------------------

MANAGE = reverse("escalations:manage-rcas")


def test_the_managers_list_shows_open_and_overdue_rcas_and_items(client, manager, s2_resolved, engineer, time_machine):
    rca = Postmortem.objects.get(incident=s2_resolved)
    audited_create(
        PostmortemActionItem,
        history_user=manager,
        postmortem=rca,
        description="Write the runbook",
        owner=engineer,
        due_date=date(2026, 11, 23),
    )
    time_machine.move_to(datetime(2026, 11, 30, 12, tzinfo=UTC), tick=False)
    client.force_login(manager)
    body = client.get(MANAGE).content.decode()
    assert f'id="rca-{rca.pk}"' in body and "overdue by" in body
    assert "Write the runbook" in body and "1 open RCA, 1 overdue" in body


def _open_rcas(make_incident, agent, now, count):
    for _ in range(count):
        resolve(make_incident(), agent, now + H)


def test_the_managers_list_query_count_does_not_grow(
    client, manager, make_incident, agent, engineer, now, django_assert_num_queries, time_machine
):
    time_machine.move_to(datetime(2026, 11, 30, 12, tzinfo=UTC), tick=False)
    client.force_login(manager)
    _open_rcas(make_incident, agent, now, 3)
    for rca in Postmortem.objects.all():
        audited_create(
            PostmortemActionItem,
            history_user=manager,
            postmortem=rca,
            description="x",
            owner=engineer,
            due_date=date(2026, 11, 21),
        )
    with CaptureQueriesContext(connection) as few:
        assert client.get(MANAGE).status_code == 200
    _open_rcas(make_incident, agent, now, 27)
    with django_assert_num_queries(len(few)):
        response = client.get(MANAGE)
    assert response.context["page"].paginator.count == 30
    assert len(response.context["overdue_items"]) == 3


def test_the_beat_task_checks_the_deadlines_now(s2_resolved, agent, time_machine):
    from escalations import tasks

    rca = Postmortem.objects.get(incident=s2_resolved)
    time_machine.move_to(rca.due_at + H, tick=False)
    assert tasks.check_rca_deadlines() == {"rca": 1, "action_item": 0}
    assert tasks.check_rca_deadlines() == {"rca": 0, "action_item": 0}
    assert len(notices(agent)) == 2


def test_the_rca_page_query_count_does_not_grow_with_action_items(
    client, manager, engineer, s2_resolved, django_assert_num_queries
):
    rca = Postmortem.objects.get(incident=s2_resolved)

    def add_items(count):
        for i in range(count):
            audited_create(
                PostmortemActionItem,
                history_user=manager,
                postmortem=rca,
                description=f"Action {i}",
                owner=engineer,
                due_date=date(2026, 12, 4),
            )

    client.force_login(manager)
    add_items(2)
    with CaptureQueriesContext(connection) as few:
        assert client.get(rca_url(s2_resolved)).status_code == 200
    add_items(18)
    with django_assert_num_queries(len(few)):
        response = client.get(rca_url(s2_resolved))
    assert len(response.context["items"].forms) == 22  # 20 items and 2 blank rows
