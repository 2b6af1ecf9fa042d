"""The per-process cache of the policy tables intake reads (services.policy_tables) and the
single-statement audited insert intake writes with (services.common.audited_insert).

The cache costs one query while nothing changed, and every change is seen by the next
intake whatever made it: the admin, a service, a write that left no history, another
process's committed transaction; a rolled-back edit is not served afterwards. Every
row intake writes still has its history row naming the acting user."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest
from django.db import connection, transaction
from simple_history.utils import bulk_create_with_history

from escalations.choices import EventKind, Stage
from escalations.models import (
    BusinessCalendar,
    CaseEvent,
    Checklist,
    ChecklistItem,
    Holiday,
    Incident,
    Notification,
    ResolveCycle,
    SeverityPolicy,
    SOPTemplate,
    TriggerRule,
)
from escalations.selectors.policies import policy_for, policy_tables, policy_tables_clear
from escalations.services import RuleViolation
from escalations.services.common import audited_create, audited_insert, audited_save, event_build
from tests.integration.test_admin import admin_url, form_data, login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _cold_cache():
    policy_tables_clear()
    yield
    policy_tables_clear()


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False


def admin_edit(user, obj, **changes) -> None:
    """Change ``obj`` (and its inline rows, with ``changes`` keyed by form field name)
    through its admin change form, as a browser would."""
    client = login(user)
    url = admin_url(type(obj), "change", obj.pk)
    data = form_data(client.get(url))
    if "change_reason" in data:  # a policy change says why
        data["change_reason"] = "Quarterly threshold review"
    data.update(changes)
    response = client.post(url, data)
    if response.status_code != 302:
        errors = [response.context["adminform"].form.errors]
        errors += [inline.formset.errors for inline in response.context["inline_admin_formsets"]]
        pytest.fail(f"The admin refused the change: {errors}")


def test_a_current_cache_costs_one_query_and_is_reused(playbook, django_assert_num_queries):
    first = policy_tables()
    with django_assert_num_queries(1):
        assert policy_tables() is first
    assert {r.name for r in first.rules} == set(TriggerRule.objects.filter(active=True).values_list("name", flat=True))
    assert [t.name for t in first.templates] == list(
        SOPTemplate.objects.filter(active=True).order_by("stage", "name").values_list("name", flat=True)
    )


def test_a_policy_edited_in_the_admin_applies_to_the_next_intake(policy_admin, make_incident, agent):
    assert make_incident().ack_target_seconds == 30 * 60  # S2; the cache is now warm
    admin_edit(policy_admin, SeverityPolicy.objects.get(key="S2"), ack_target="0:10:00", resolve_target="4:00:00")
    fresh = make_incident(title="After the edit")
    assert (fresh.ack_target_seconds, fresh.resolve_target_seconds) == (10 * 60, 4 * 3600)
    assert fresh.history.get().history_user == agent


def test_a_trigger_rule_edited_in_the_admin_applies_to_the_next_intake(policy_admin, make_incident):
    assert make_incident(arr_at_risk=60000).severity == "S2"
    admin_edit(policy_admin, TriggerRule.objects.get(kind="arr_at_risk"), threshold="100000")
    after = make_incident(arr_at_risk=60000, title="After the edit")
    assert (after.severity, after.trigger_explanation) == ("S3", "No trigger rule matched.")


def test_sop_template_edits_apply_to_the_next_intake(policy_admin, make_incident):
    assert make_incident().checklists.count() == 4  # S2: triage, command, fix, verify
    triage = SOPTemplate.objects.get(name="S2 first hour (triage)")
    new_item = {"items-4-order": "9", "items-4-text": "Status page checked", "items-4-required": "on"}
    assert triage.items.count() == 4  # the inline's blank extra form is items-4
    admin_edit(policy_admin, triage, name="S2 first hour (revised)", play="Revised play.", **new_item)
    for retired in SOPTemplate.objects.filter(severity="S2").exclude(pk=triage.pk):
        retired.active = False
        audited_save(retired, actor=policy_admin, update_fields=["active"])

    [checklist] = make_incident(title="After the edit").checklists.all()
    assert (checklist.title, checklist.play, checklist.template_id) == (
        "S2 first hour (revised)",
        "Revised play.",
        triage.pk,
    )
    assert list(checklist.items.values_list("text", flat=True))[-1] == "Status page checked"


def test_a_holiday_added_to_a_calendar_reaches_the_next_snapshot(policy_admin, make_incident):
    s3 = make_incident(arr_at_risk=0)
    assert s3.calendar_snapshot["holidays"] == []
    calendar = BusinessCalendar.objects.get(name="Business hours (London)")
    audited_create(Holiday, history_user=policy_admin, calendar=calendar, date=date(2026, 12, 25), name="Christmas")
    assert make_incident(arr_at_risk=0, title="After").calendar_snapshot["holidays"] == ["2026-12-25"]


def test_a_change_that_wrote_no_history_is_seen_too(make_incident):
    # The cache is keyed by the tables' content, not by history rows or signals.
    assert make_incident().severity == "S2"
    TriggerRule.objects.filter(kind="arr_at_risk").update(threshold=100000)
    assert make_incident(title="After the update").severity == "S3"
    with connection.cursor() as cursor:
        cursor.execute("UPDATE escalations_severitypolicy SET warning_pct = 50 WHERE key = 'S3'")
    assert make_incident(title="After raw SQL").warning_pct == 50


def test_an_edit_is_seen_in_its_own_transaction_and_gone_after_its_rollback(make_incident, policy_admin):
    class Rollback(Exception):
        pass

    assert make_incident().ack_target_seconds == 30 * 60
    with pytest.raises(Rollback), transaction.atomic():
        policy = SeverityPolicy.objects.get(key="S2")
        policy.ack_target = timedelta(minutes=10)
        audited_save(policy, actor=policy_admin, update_fields=["ack_target"])
        assert make_incident(title="Inside").ack_target_seconds == 10 * 60
        raise Rollback
    assert make_incident(title="After the rollback").ack_target_seconds == 30 * 60


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_by_another_process_is_seen_by_the_next_intake(make_incident):
    assert make_incident().ack_target_seconds == 30 * 60
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"] or 5432
    ) as other:  # commits on leaving the block
        other.execute("UPDATE escalations_severitypolicy SET ack_target = interval '7 minutes' WHERE key = 'S2'")
    assert make_incident(title="After the other process").ack_target_seconds == 7 * 60


def test_policy_for_hands_out_a_private_copy(playbook):
    policy = policy_for("S2")
    policy.name = "Changed by a caller"
    assert policy_for("S2").name == "Major"
    with pytest.raises(RuleViolation, match="no severity policy 'S9'"):
        policy_for("S9")


def test_intake_writes_every_row_with_history_naming_the_actor_in_few_queries(
    make_incident, agent, duty_manager, django_assert_num_queries
):
    make_incident(title="Warm the cache")
    # The policy-tables digest, then one statement per table written with its history
    # (case, resolve cycle, checklists, items, pages, events), the shift look-up and the
    # Duty Managers group (nobody is on shift); the test's savepoint around it.
    with django_assert_num_queries(11):
        incident = make_incident(title="Counted", external_id="ext-1")
    written = {
        Incident: Incident.objects.filter(pk=incident.pk),
        ResolveCycle: ResolveCycle.objects.filter(incident=incident),
        Checklist: Checklist.objects.filter(incident=incident),
        ChecklistItem: ChecklistItem.objects.filter(checklist__incident=incident),
        CaseEvent: CaseEvent.objects.filter(incident=incident),
        Notification: Notification.objects.filter(incident=incident),
    }
    counts = {model: rows.count() for model, rows in written.items()}
    assert counts == {Incident: 1, ResolveCycle: 1, Checklist: 4, ChecklistItem: 10, CaseEvent: 3, Notification: 2}
    for model, rows in written.items():
        history = model.history.filter(id__in=rows.values("pk"))
        assert sorted(history.values_list("id", flat=True)) == sorted(rows.values_list("pk", flat=True)), model
        assert set(history.values_list("history_user", "history_type")) == {(agent.pk, "+")}, model
    assert list(written[CaseEvent].order_by("pk").values_list("kind", flat=True)) == [
        EventKind.CREATED,
        EventKind.CLOCK_STARTED,
        EventKind.PAGED,
    ]


def test_audited_insert_writes_the_rows_and_history_simple_history_writes(make_incident, agent):
    incident = make_incident()

    def events():
        return [
            event_build(incident=incident, kind=EventKind.NOTE, actor=agent, at=incident.reported_at, new={"n": n})
            for n in (1, 2)
        ]

    ours = audited_insert(events(), actor=agent)
    theirs = bulk_create_with_history(events(), CaseEvent, default_user=agent)
    assert all(e.pk is not None and not e._state.adding for e in ours)
    assert [CaseEvent.objects.get(pk=e.pk).new for e in ours] == [{"n": 1}, {"n": 2}]

    def history(rows) -> list[dict]:
        ignored = {"id", "history_id", "history_date"}
        found = CaseEvent.history.filter(id__in=[e.pk for e in rows]).order_by("id").values()
        return [{k: v for k, v in row.items() if k not in ignored} for row in found]

    assert history(ours) == history(theirs)
    assert history(ours)[0]["history_user_id"] == agent.pk


def test_audited_insert_refuses_saved_rows(make_incident, agent):
    event = CaseEvent.objects.filter(incident=make_incident()).first()
    with pytest.raises(ValueError, match="new rows only"):
        audited_insert([event], actor=agent)


def test_a_duplicate_external_id_is_refused_and_writes_nothing(make_incident):
    make_incident(external_id="pd-1")
    before = (Incident.objects.count(), CaseEvent.objects.count(), Checklist.objects.count())
    with pytest.raises(RuleViolation) as refused:
        make_incident(external_id="pd-1", title="Again")
    assert refused.value.code == "duplicate" and refused.value.field == "external_id"
    # The caller's transaction is still usable and holds nothing of the refused case.
    assert (Incident.objects.count(), CaseEvent.objects.count(), Checklist.objects.count()) == before


def test_templates_match_blank_severity_and_category_as_any(policy_admin, make_incident):
    audited_create(SOPTemplate, history_user=policy_admin, name="Any case", stage=Stage.TRIAGE, play="p")
    titles = set(make_incident(arr_at_risk=0, category="billing").checklists.values_list("title", flat=True))
    assert titles == {"Any case", "S3 triage", "S3 command", "S3 fix", "S3 verify and close"}


@pytest.mark.parametrize("rows", [1, 3])
def test_remembered_insert_statements_are_the_compilers(make_incident, agent, rows, monkeypatch):
    """_insert_with_history_sql keeps each statement's text after its first build and
    then only prepares values: text and parameters must be what Django's compiler would
    build for the same rows, for every model intake writes, one row and many."""
    import time_machine
    from django.db.models.sql import InsertQuery

    from escalations.fastpath import writes
    from escalations.models import Checklist, ChecklistItem, Notification, ResolveCycle

    incident = make_incident()
    checklist = Checklist.objects.filter(incident=incident).first()
    makers = {
        CaseEvent: lambda n: event_build(
            incident=incident, kind=EventKind.NOTE, actor=agent, at=incident.reported_at, new={"n": n}
        ),
        ResolveCycle: lambda n: ResolveCycle(
            incident=incident, number=10 + n, started_at=incident.reported_at, target_seconds=60
        ),
        ChecklistItem: lambda n: ChecklistItem(
            checklist=checklist, order=100 + n, text=f"Step {n}", required=n % 2 == 0
        ),
        Notification: lambda n: Notification(
            incident=incident, channel="in_app", recipient=agent, subject=f"S {n}", payload={"n": n}
        ),
    }
    monkeypatch.setattr(writes, "_insert_sql", {})
    with time_machine.travel(incident.reported_at, tick=False):
        for model, make in makers.items():
            first = writes._insert_with_history_sql(model, [make(n) for n in range(rows)], using="default")
            again = writes._insert_with_history_sql(model, [make(n) for n in range(rows)], using="default")
            assert (model, "default", rows > 1) in writes._insert_sql, model
            objs = [make(n) for n in range(rows)]
            query = InsertQuery(model)
            query.insert_values([f for f in model._meta.concrete_fields if not f.generated and not f.primary_key], objs)
            [(insert_sql, params)] = query.get_compiler(using="default").as_sql()
            assert again[0] == first[0] and again[0].startswith(f"WITH new_rows AS ({insert_sql} RETURNING *)")
            assert [str(p) for p in again[1]] == [str(p) for p in params], model
    # Written through the remembered statement, rows and history are as before.
    written = audited_insert([makers[CaseEvent](n) for n in range(rows)], actor=agent)
    assert CaseEvent.history.filter(id__in=[e.pk for e in written], history_user=agent).count() == rows
