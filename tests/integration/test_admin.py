"""The Django admin: every model registered and rendering, permissions per role, cases
opened and edited only through the services, policies audited and never moving open
cases' deadlines, constant query counts on the case list."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.urls import reverse

from escalations.choices import ClockKind, EventKind, NotificationChannel, NotificationStatus, Stage
from escalations.models import (
    Breach,
    CaseEvent,
    DigestDelivery,
    DigestSchedule,
    Escalation,
    Holiday,
    Incident,
    Notification,
    Postmortem,
    PostmortemActionItem,
    RcaReminder,
    SeverityPolicy,
    Shift,
    SlaWarning,
    StaffProfile,
    SweepHeartbeat,
)
from escalations.services import (
    customer_update_post,
    handoff_offer,
    incident_acknowledge,
    incident_pause,
    system_user,
)
from escalations.services.common import audited_create, audited_save
from escalations.services.tokens import token_create
from tests.factories import TeamFactory, UserFactory


def escalations_models() -> list:
    return [m for m in apps.get_app_config("escalations").get_models() if not m.__name__.startswith("Historical")]


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def form_data(response) -> dict:
    """The POST a browser would send for an unchanged admin change form (main form and
    inline formsets), built from the rendered page's forms."""
    data: dict = {}

    def add(form) -> None:
        for name, field in form.fields.items():
            key = form.add_prefix(name)
            value = form[name].value()
            if isinstance(field, forms.BooleanField):
                if value:
                    data[key] = "on"
            elif value is None:
                data[key] = ""
            elif isinstance(value, (list, tuple)):
                data[key] = [str(v) for v in value]
            else:
                data[key] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.initial_forms:
            add(form)
    return data


@pytest.fixture(autouse=True)
def _plain_http(settings):
    # Production defaults redirect to HTTPS; the test client speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def superuser(playbook):
    return UserFactory(username="root_admin", is_staff=True, is_superuser=True)


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def every_row(make_incident, agent, other_agent, team, now):
    """At least one row of every model, written through the services where one exists.
    The sweep's rows (breach, warning, escalation, notification, heartbeat) have no
    service of their own yet, so they are created as the system user would."""
    incident = make_incident(team=team, title="Everything at once")
    incident_acknowledge(incident=incident, actor=agent, now=now + timedelta(minutes=2))
    customer_update_post(
        incident=incident, body="We are on it.", channel=None, actor=agent, now=now + timedelta(minutes=5)
    )
    handoff_offer(
        incident=incident,
        actor=agent,
        now=now + timedelta(minutes=6),
        to_stage=Stage.TRIAGE,
        to_user=other_agent,
        summary="Checkout down",
        customer_impact="EU users",
        next_steps="Check the gateway",
    )
    incident_pause(
        incident=incident, reason="customer", note="Waiting for logs", actor=agent, now=now + timedelta(minutes=7)
    )
    system = system_user()
    breach = audited_create(
        Breach,
        history_user=system,
        incident=incident,
        kind=ClockKind.UPDATE,
        cycle=1,
        severity="S2",
        due_at=now,
        detected_at=now,
    )
    audited_create(
        SlaWarning,
        history_user=system,
        incident=incident,
        kind=ClockKind.RESOLVE,
        cycle=1,
        warn_at=now,
        due_at=now,
        detected_at=now,
    )
    escalation = audited_create(
        Escalation,
        history_user=system,
        incident=incident,
        level=1,
        reason="Update breached",
        breach=breach,
        created_at=now,
        actor=system,
    )
    audited_create(
        Notification,
        history_user=system,
        incident=incident,
        escalation=escalation,
        channel=NotificationChannel.EMAIL,
        recipient=agent,
        address="a@example.com",
        subject="Escalated",
        idempotency_key="k1",
        status=NotificationStatus.FAILED,
        attempts=6,
        created_at=now,
    )
    audited_create(SweepHeartbeat, history_user=system, started_at=now, finished_at=now, examined=3, breaches=1)
    from escalations.services.submissions import submission_claim

    with transaction.atomic():
        submission_claim(token=uuid.uuid4(), user=agent, now=now)
    postmortem = audited_create(Postmortem, history_user=agent, incident=incident, author=agent, summary="Gateway bug")
    audited_create(PostmortemActionItem, history_user=agent, postmortem=postmortem, description="Add an alert")
    audited_create(RcaReminder, history_user=system, postmortem=postmortem, stage="owner", due_at=now, sent_at=now)
    audited_create(DigestSchedule, history_user=system, pk=1)
    audited_create(
        DigestDelivery, history_user=system, user=agent, week="2026-W48", reported_week="2026-W47", sent_at=now
    )
    audited_create(StaffProfile, history_user=agent, user=agent, timezone="Europe/London")
    audited_create(Shift, history_user=system, team=team, user=agent, starts_at=now, ends_at=now + timedelta(hours=8))
    calendar = SeverityPolicy.objects.get(key="S3").calendar
    audited_create(Holiday, history_user=system, calendar=calendar, date=now.date(), name="Demo day")
    token_create(user=agent, actor=agent, name="Demo token")  # an ApiToken and an AccessEvent
    _valve_rows(make_incident, incident, breach, agent=agent, team=team, now=now)
    from escalations.services.review_weeks import review_weeks_keep

    review_weeks_keep(now=now)  # the weekly review keeps the weeks before ``now``
    return incident


def _valve_rows(make_incident, incident, breach, *, agent, team, now):
    """An executive escalation request and a service-credit request (with its rule and
    its breach link), through the services."""
    from decimal import Decimal

    from escalations.models import ServiceCreditRule
    from escalations.services.valves import executive_escalation_request, service_credit_request

    audited_create(ServiceCreditRule, history_user=system_user(), tier="enterprise", percent_per_hour=2, cap_percent=10)
    incident.customer.monthly_fee = Decimal(10000)
    audited_save(incident.customer, actor=system_user(), update_fields=["monthly_fee"])
    s1 = make_incident(team=team, title="Raised by hand", severity="S1", severity_reason="Board-level customer")
    executive_escalation_request(incident=s1, reason="The customer's CEO called", actor=agent, now=now)
    service_credit_request(
        incident=incident, breaches=[breach.pk], amount="10", justification="Late update", actor=agent,
        now=now + timedelta(minutes=10),
    )  # fmt: skip


def test_every_model_is_registered_with_history():
    from simple_history.admin import SimpleHistoryAdmin

    for model in escalations_models():
        assert admin.site.is_registered(model), model
        assert isinstance(admin.site._registry[model], SimpleHistoryAdmin), model


@pytest.mark.django_db
def test_superuser_pages_render_for_every_model(superuser, every_row):
    client = login(superuser)
    for model in escalations_models():
        model_admin = admin.site._registry[model]
        assert client.get(admin_url(model, "changelist")).status_code == 200, model
        obj = model.objects.order_by("pk").first()
        assert obj is not None, f"no {model.__name__} row to show"
        assert client.get(admin_url(model, "change", obj.pk)).status_code == 200, model
        assert client.get(admin_url(model, "history", obj.pk)).status_code == 200, model
        history_row = obj.history.order_by("history_id").first()
        assert client.get(admin_url(model, "simple_history", obj.pk, history_row.history_id)).status_code == 200, model
        expected_add = 200 if model_admin.has_add_permission(_request(superuser)) else 403
        assert client.get(admin_url(model, "add")).status_code == expected_add, model
    assert client.get(reverse("admin:index")).status_code == 200


def _request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


@pytest.mark.django_db
def test_append_only_and_service_written_rows_cannot_be_added_changed_or_deleted(superuser, every_row):
    client = login(superuser)
    event = CaseEvent.objects.first()
    assert client.get(admin_url(CaseEvent, "add")).status_code == 403
    assert client.post(admin_url(CaseEvent, "change", event.pk), {"detail": "rewritten"}).status_code == 403
    assert client.post(admin_url(CaseEvent, "delete", event.pk), {"post": "yes"}).status_code == 403
    assert client.post(admin_url(Incident, "delete", every_row.pk), {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.detail != "rewritten"
    assert Incident.objects.filter(pk=every_row.pk).exists()


@pytest.mark.django_db
def test_incident_history_cannot_be_reverted(superuser, make_incident):
    incident = make_incident()
    first = incident.history.order_by("history_id").first()
    client = login(superuser)
    url = admin_url(Incident, "simple_history", incident.pk, first.history_id)
    assert client.post(url, {"title": "Reverted"}).status_code == 403


@pytest.mark.django_db
def test_policy_admin_edits_a_policy_and_is_recorded_as_history_user(policy_admin):
    policy = SeverityPolicy.objects.get(key="S2")
    client = login(policy_admin)
    url = admin_url(SeverityPolicy, "change", policy.pk)
    data = form_data(client.get(url))
    data["name"] = "Major (reviewed)"
    data["change_reason"] = "Quarterly threshold review"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    policy.refresh_from_db()
    assert policy.name == "Major (reviewed)"
    latest = policy.history.order_by("-history_id").first()
    assert latest.history_user == policy_admin
    assert latest.name == "Major (reviewed)"


@pytest.mark.django_db
def test_policy_admin_form_runs_the_model_clean(policy_admin):
    policy = SeverityPolicy.objects.get(key="S2")
    client = login(policy_admin)
    url = admin_url(SeverityPolicy, "change", policy.pk)
    data = form_data(client.get(url))
    data["ack_target"] = "10:00:00"  # longer than the 8 h resolve target
    response = client.post(url, data)
    assert response.status_code == 200
    assert "ack_target" in response.context["adminform"].form.errors
    policy.refresh_from_db()
    assert policy.ack_target == timedelta(minutes=30)


@pytest.mark.django_db
def test_policy_admin_cannot_close_executives_while_the_chain_reaches_them(policy_admin):
    """The executive rule's one home (SeverityPolicy.chain_may_reach) holds in the admin
    too: the S1 chain has an executive rung, so executives cannot be switched off."""
    policy = SeverityPolicy.objects.get(key="S1")
    assert policy.allows_executive_escalation and policy.chain.filter(target="executive").exists()
    client = login(policy_admin)
    url = admin_url(SeverityPolicy, "change", policy.pk)
    data = form_data(client.get(url))
    data.pop("allows_executive_escalation", None)  # an unticked box is not posted
    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "still reaches an executive" in str(errors["allows_executive_escalation"])
    policy.refresh_from_db()
    assert policy.allows_executive_escalation


@pytest.mark.django_db
def test_editing_policy_targets_never_moves_an_open_cases_deadline(policy_admin, make_incident, now):
    incident = make_incident()  # S2: acknowledge within 30 minutes
    assert incident.severity == "S2"
    before = (incident.ack_due_at, incident.resolve_due_at, incident.ack_target_seconds)
    client = login(policy_admin)
    policy = SeverityPolicy.objects.get(key="S2")
    url = admin_url(SeverityPolicy, "change", policy.pk)
    data = form_data(client.get(url))
    data["ack_target"] = "0:10:00"
    data["resolve_target"] = "4:00:00"
    data["change_reason"] = "Tighter targets after the review"
    assert client.post(url, data).status_code == 302
    policy.refresh_from_db()
    assert policy.ack_target == timedelta(minutes=10)
    incident.refresh_from_db()
    assert (incident.ack_due_at, incident.resolve_due_at, incident.ack_target_seconds) == before
    assert incident.ack_due_at == now + timedelta(minutes=30)
    # A new case runs under the edited policy.
    fresh = make_incident(title="After the edit")
    assert fresh.ack_due_at == now + timedelta(minutes=10)


@pytest.mark.django_db
def test_cs_agent_is_sent_away_from_the_admin(agent):
    client = login(agent)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    assert client.get(admin_url(SeverityPolicy, "changelist")).status_code == 302


@pytest.mark.django_db
def test_manager_may_not_change_or_add_policies(manager):
    policy = SeverityPolicy.objects.get(key="S1")
    client = login(manager)
    url = admin_url(SeverityPolicy, "change", policy.pk)
    page = client.get(url)
    assert page.status_code == 200  # Managers may read the policies…
    assert client.post(url, {"name": "Hijacked"}).status_code == 403  # …never change them
    assert client.get(admin_url(SeverityPolicy, "add")).status_code == 403
    policy.refresh_from_db()
    assert policy.name == "Critical"


@pytest.mark.django_db
def test_incident_changelist_query_count_does_not_grow_with_cases(
    superuser, make_incident, django_assert_max_num_queries
):
    client = login(superuser)
    url = admin_url(Incident, "changelist")
    for n in range(3):
        make_incident(title=f"Case {n}")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for n in range(27):
        make_incident(title=f"More {n}")
    assert len(few.captured_queries) <= 10
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 30


@pytest.mark.django_db
def test_incident_change_page_shows_the_computed_clocks(superuser, make_incident):
    incident = make_incident()
    response = login(superuser).get(admin_url(Incident, "change", incident.pk))
    assert response.status_code == 200
    body = response.content.decode().lower()
    for label in ("acknowledge (tta)", "resolve (ttr)", "customer update"):
        assert label in body
    # The reported time is in the past (fixed T0), so the 30-minute ack clock is long breached.
    assert "breached · " in body
    assert "due 2026-11-20 10:30 utc" in body  # T0 + 30 minutes, shown in the viewer's zone


@pytest.mark.django_db
def test_incident_added_in_the_admin_goes_through_intake(manager, customer, email_channel):
    client = login(manager)
    response = client.post(
        admin_url(Incident, "add"),
        {
            "title": "Admin-logged outage",
            "customer": customer.pk,
            "channel": email_channel.pk,
            "arr_at_risk": "75000",
            "users_affected_pct": "0",
            "reported_at_0": "",
            "reported_at_1": "",
            "severity": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    incident = Incident.objects.get(title="Admin-logged outage")
    assert incident.severity == "S2"
    assert incident.trigger_severity == "S2"
    assert incident.created_by == manager
    assert incident.checklists.exists()
    created = CaseEvent.objects.get(incident=incident, kind=EventKind.CREATED)
    assert created.actor == manager
    assert incident.history.earliest("history_id").history_user == manager


@pytest.mark.django_db
def test_service_refusal_on_add_is_a_form_error_and_writes_nothing(manager, customer, email_channel):
    client = login(manager)
    response = client.post(
        admin_url(Incident, "add"),
        {
            "title": "Raised without a reason",
            "customer": customer.pk,
            "channel": email_channel.pk,
            "arr_at_risk": "0",
            "users_affected_pct": "0",
            "severity": "S1",
            "severity_reason": "",
        },
    )
    assert response.status_code == 200
    assert "Raising the severity needs a reason." in response.context["adminform"].form.errors["severity_reason"]
    assert not Incident.objects.filter(title="Raised without a reason").exists()


@pytest.mark.django_db
def test_incident_change_goes_through_incident_update_and_ignores_workflow_fields(manager, make_incident):
    incident = make_incident(arr_at_risk=0)  # S3 by default
    assert incident.severity == "S3"
    client = login(manager)
    url = admin_url(Incident, "change", incident.pk)
    data = form_data(client.get(url))
    data.update({"title": "Renamed in the admin", "data_risk": "on", "status": "resolved", "severity": "S4"})
    assert client.post(url, data).status_code == 302
    incident.refresh_from_db()
    assert incident.title == "Renamed in the admin"
    assert incident.status == "new"  # read-only here: statuses move through the services
    assert incident.severity == "S1"  # data risk: the triggers raise it (incident_update)
    edited = CaseEvent.objects.get(incident=incident, kind=EventKind.EDITED)
    assert edited.actor == manager
    assert CaseEvent.objects.filter(incident=incident, kind=EventKind.SEVERITY_CHANGED).exists()
    assert incident.history.latest("history_id").history_user == manager


@pytest.mark.django_db
def test_incident_change_from_a_stale_page_is_refused(manager, agent, make_incident, now):
    incident = make_incident()
    client = login(manager)
    url = admin_url(Incident, "change", incident.pk)
    data = form_data(client.get(url))
    incident_acknowledge(incident=incident, actor=agent, now=now)  # someone else changes it meanwhile
    data["title"] = "My stale edit"
    response = client.post(url, data)
    assert response.status_code == 200
    assert "changed by someone else" in str(response.context["adminform"].form.errors)
    incident.refresh_from_db()
    assert incident.title != "My stale edit"


@pytest.mark.django_db
def test_admin_index_shows_the_last_sweep(superuser, now):
    audited_create(
        SweepHeartbeat,
        history_user=system_user(),
        started_at=now,
        finished_at=now,
        examined=42,
        breaches=3,
        duration_ms=17,
    )
    body = login(superuser).get(reverse("admin:index")).content.decode()
    assert "Breach sweep" in body
    assert "examined 42" in body
    assert "3 breaches" in body


@pytest.mark.django_db
def test_failed_notifications_are_found_by_the_status_filter(superuser, every_row):
    client = login(superuser)
    response = client.get(admin_url(Notification, "changelist"), {"status__exact": "failed"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


@pytest.mark.django_db
def test_a_manager_retries_a_failed_notification_and_history_names_them(
    policy_admin, manager, every_row, django_capture_on_commit_callbacks
):
    """The outbox is scoped by case: Duty Managers and Managers see every case and retry
    its deliveries; a Policy Admin in no team sees none of the case's rows and can retry
    none of them."""
    failed = Notification.objects.get(status=NotificationStatus.FAILED)
    sent = Notification.objects.create(
        channel=NotificationChannel.IN_APP,
        subject="Already sent",
        idempotency_key="k-sent",
        status=NotificationStatus.SENT,
        attempts=1,
        created_at=failed.created_at,
    )
    changelist = admin_url(Notification, "changelist")
    policy_admin.is_staff = True
    policy_admin.save()
    outsider = login(policy_admin)
    assert failed.subject not in outsider.get(changelist).content.decode()
    outsider.post(changelist, {"action": "retry_now", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert failed.status == NotificationStatus.FAILED

    manager.is_staff = True
    manager.save()
    client = login(manager)
    assert "retry_now" in client.get(changelist).content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            changelist, {"action": "retry_now", "_selected_action": [failed.pk, sent.pk]}, follow=True
        )
    assert "1 notification(s) back in the outbox" in response.content.decode()
    assert "1 not failed" in response.content.decode()
    assert len(callbacks) == 1  # the delivery task is published after commit
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert failed.status == NotificationStatus.PENDING and failed.max_attempts == failed.attempts + 3
    assert failed.next_attempt_at is not None and sent.status == NotificationStatus.SENT
    assert failed.history.latest().history_user == manager


@pytest.mark.django_db
def test_incident_search_finds_a_case_by_reference(superuser, make_incident):
    target = make_incident(title="Needle")
    make_incident(title="Haystack")
    response = login(superuser).get(admin_url(Incident, "changelist"), {"q": target.reference})
    assert [i.pk for i in response.context["cl"].result_list] == [target.pk]


def test_user_model_admin_is_searchable_for_autocomplete():
    # autocomplete_fields on users need the user admin's search_fields.
    assert admin.site._registry[get_user_model()].search_fields


@pytest.mark.django_db
def test_policy_admin_may_add_every_kind_of_reference_data_and_view_cases(policy_admin, make_incident):
    from escalations.models import BusinessCalendar, Channel, Customer, SOPTemplate, Team, TriggerRule

    client = login(policy_admin)
    for model in (SeverityPolicy, TriggerRule, SOPTemplate, Team, Shift, Channel, BusinessCalendar, Customer):
        assert client.get(admin_url(model, "add")).status_code == 200, model
    theirs = make_incident(team=TeamFactory(name="Policy", slug="policy", members=[policy_admin]))
    assert client.get(admin_url(Incident, "change", theirs.pk)).status_code == 200  # view only
    assert client.get(admin_url(Incident, "add")).status_code == 403
    # Another team's case is not there for them (the workspace's access rule).
    other = make_incident(title="Someone else's")
    assert client.get(admin_url(Incident, "change", other.pk)).status_code == 302
    assert client.get(admin_url(Incident, "history", other.pk)).status_code == 404
    listed = client.get(admin_url(Incident, "changelist")).context["cl"].result_list
    assert [i.pk for i in listed] == [theirs.pk]


@pytest.mark.django_db
def test_estimated_count_paginator_uses_the_planner_estimate_only_on_big_unfiltered_postgres_tables(
    make_incident, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from escalations.lib import pagination as base

    for n in range(3):
        make_incident(title=f"Case {n}")
    monkeypatch.setattr(base, "ESTIMATE_ABOVE_ROWS", 0)
    monkeypatch.setattr(base, "_estimates", {})  # another test's estimate of the same table
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE escalations_incident")
    with CaptureQueriesContext(connection) as queries:
        count = base.EstimatedCountPaginator(Incident.objects.order_by("-id"), 50).count
    counted = any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    assert count == 3
    assert not counted
    # A filtered list always gets the exact count.
    with CaptureQueriesContext(connection) as queries:
        assert base.EstimatedCountPaginator(Incident.objects.filter(title="Case 1"), 50).count == 1
    assert any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    # The estimate is read once per ESTIMATE_SECONDS per process, then again.
    with CaptureQueriesContext(connection) as queries:
        assert base.EstimatedCountPaginator(Incident.objects.order_by("-id"), 50).count == 3
    assert queries.captured_queries == []
    for key, (read_at, estimate) in list(base._estimates.items()):  # as if read long ago
        base._estimates[key] = (read_at - base.ESTIMATE_SECONDS - 1, estimate)
    with CaptureQueriesContext(connection) as queries:
        assert base.EstimatedCountPaginator(Incident.objects.order_by("-id"), 50).count == 3
    assert ["reltuples" in q["sql"] for q in queries.captured_queries] == [True]
