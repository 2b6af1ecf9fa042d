"""Paging at intake: who is paged, on which channels, with which link; drills page
nobody; delivery is published only after the intake transaction commits."""

from __future__ import annotations

import pytest

from escalations.choices import EventKind, NotificationChannel, NotificationStatus
from escalations.models import CaseEvent, Notification
from tests.engine_support import roster  # noqa: F401


@pytest.fixture
def oncall(now, team, duty_manager, other_agent):
    roster(now=now, team=team, duty_manager=duty_manager, commander=other_agent)


def _pages(incident):
    return Notification.objects.filter(incident=incident, idempotency_key__startswith="page:")


def test_s2_pages_the_on_duty_duty_manager_with_an_ack_link(make_incident, team, oncall, duty_manager, now):
    incident = make_incident(team=team)
    pages = _pages(incident)
    assert {(p.recipient_id, p.channel) for p in pages} == {
        (duty_manager.pk, NotificationChannel.IN_APP),
        (duty_manager.pk, NotificationChannel.EMAIL),
    }
    page = pages.get(channel=NotificationChannel.EMAIL)
    assert page.address == duty_manager.email and page.status == NotificationStatus.PENDING
    assert page.payload["links"]["acknowledge"].endswith(f"/cases/{incident.pk}/acknowledge/")
    assert page.history.get().history_user == incident.created_by
    event = CaseEvent.objects.get(incident=incident, kind=EventKind.PAGED)
    assert event.new["paged"] == [
        {"role": "duty_manager", "user": duty_manager.pk, "name": event.new["paged"][0]["name"]}
    ]


def test_s1_also_pages_the_commander(make_incident, team, oncall, duty_manager, other_agent, engineer):
    on_call = make_incident(team=team, data_risk=True)
    assert {p.recipient_id for p in _pages(on_call)} == {duty_manager.pk, other_agent.pk}
    named = make_incident(team=team, data_risk=True, commander=engineer, title="Named IC")
    assert {p.recipient_id for p in _pages(named)} == {duty_manager.pk, engineer.pk}


def test_policies_that_do_not_page_page_nobody(make_incident, team, oncall):
    incident = make_incident(team=team, arr_at_risk=0)  # S3
    assert incident.severity == "S3"
    assert not _pages(incident).exists()
    assert not CaseEvent.objects.filter(incident=incident, kind=EventKind.PAGED).exists()


def test_without_a_shift_the_duty_managers_group_is_paged(make_incident, duty_manager):
    incident = make_incident()
    assert {p.recipient_id for p in _pages(incident)} == {duty_manager.pk}


def test_drills_page_nobody_real(make_incident, team, oncall, duty_manager):
    incident = make_incident(team=team, is_drill=True, actor=duty_manager)
    assert set(_pages(incident).values_list("status", flat=True)) == {NotificationStatus.SUPPRESSED}
    assert "Drill" in CaseEvent.objects.get(incident=incident, kind=EventKind.PAGED).detail


def test_delivery_is_published_after_commit_only(
    make_incident, team, oncall, django_capture_on_commit_callbacks, monkeypatch
):
    published = []
    monkeypatch.setattr(
        "escalations.services.notifications.notifications_publish", lambda ids: published.append(ids) or len(ids)
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        incident = make_incident(team=team)
        assert published == []
    for callback in callbacks:
        callback()
    # Email pages are published; in-app pages are delivered by being written.
    pages = _pages(incident)
    assert sorted(published[0]) == sorted(pages.exclude(channel="in_app").values_list("pk", flat=True))
    assert pages.filter(channel="in_app").exists()
    assert set(pages.filter(channel="in_app").values_list("status", flat=True)) == {"sent"}


def test_a_failed_intake_writes_no_page(make_incident, team, oncall):
    from escalations.services import RuleViolation

    with pytest.raises(RuleViolation):
        make_incident(team=team, title="  ")
    assert not Notification.objects.exists()


def test_one_page_per_person_naming_every_role_it_reaches_them_in(make_incident, team, duty_manager, now):
    # The Duty Manager on shift is also the Incident Commander on shift.
    roster(now=now, team=team, duty_manager=duty_manager, commander=duty_manager)
    incident = make_incident(team=team, data_risk=True)  # S1: pages the DM and the commander
    pages = _pages(incident).filter(recipient=duty_manager, channel=NotificationChannel.IN_APP)
    assert pages.count() == 1
    assert "as duty manager and commander" in pages.get().payload["text"]
