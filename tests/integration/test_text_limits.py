"""Every free-text field has a limit, enforced by the services whatever the door: a walk
over every text field of every model, and the doors people reported (a 1.5 MB handoff
rejection reason, a 1 MB ping-pong reason through the web forms)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from escalations.lib.text import MAX_LONG_TEXT
from escalations.models import HandoffPacket, Incident
from escalations.services import RuleViolation, handoff_accept, handoff_offer, incident_acknowledge
from escalations.services.common import audited_insert, audited_save, text_limits_check
from tests.integration.api_support import client_for, row_counts

pytestmark = pytest.mark.django_db

PACKET = {"summary": "s", "customer_impact": "c", "next_steps": "n", "acceptance_criteria": "a"}


def text_fields():
    """(model, field) for every text and char field of every model of the app."""
    for model in apps.get_app_config("escalations").get_models():
        if model.__name__.startswith("Historical"):
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField | models.TextField):
                yield model, field


def test_every_text_field_has_a_limit():
    unbounded = [f"{m.__name__}.{f.name}" for m, f in text_fields() if f.max_length is None]
    assert unbounded == []
    too_long = [f"{m.__name__}.{f.name}" for m, f in text_fields() if f.max_length > MAX_LONG_TEXT]
    assert too_long == []


@pytest.mark.parametrize(
    ("model", "field"), [pytest.param(m, f, id=f"{m.__name__}.{f.name}") for m, f in text_fields()]
)
def test_the_services_refuse_text_over_the_limit_naming_the_field(model, field):
    instance = model()
    setattr(instance, field.attname, "x" * (field.max_length + 1))
    with pytest.raises(RuleViolation) as refused:
        text_limits_check(instance)
    assert refused.value.field == field.name and refused.value.code == "max_length"
    assert f"{field.max_length:,}" in refused.value.message
    setattr(instance, field.attname, "x" * field.max_length)
    text_limits_check(instance, [field.name])  # at the limit: fine


def test_audited_save_and_insert_check_before_writing(make_incident, agent, now):
    case = make_incident()
    before = row_counts()
    case.description = "x" * (MAX_LONG_TEXT + 1)
    with pytest.raises(RuleViolation):
        audited_save(case, actor=agent, update_fields=["description"])
    with pytest.raises(RuleViolation):
        audited_insert([Incident(title="t" * 201)], actor=agent)
    assert row_counts() == before
    assert Incident.objects.get(pk=case.pk).description == ""


@pytest.fixture
def offered(make_incident, agent, other_agent, team, now):
    case = incident_acknowledge(incident=make_incident(team=team), actor=agent, now=now)
    return handoff_offer(incident=case.pk, actor=agent, now=now, to_stage=case.stage, to_user=other_agent, **PACKET)


def test_a_megabyte_rejection_reason_is_refused_at_the_web_door(offered, other_agent):
    web = Client()
    web.force_login(other_agent)
    before = row_counts()
    case = Incident.objects.get(pk=offered.incident_id)
    response = web.post(
        reverse("escalations:handoff-reject", args=[offered.pk]),
        {"version": case.version, "reason": "x" * 1_500_000},
    )
    assert response.status_code == 400
    assert "under 2,000 characters" in response.content.decode()
    assert row_counts() == before
    assert HandoffPacket.objects.get(pk=offered.pk).rejection_reason == ""


def test_a_megabyte_rejection_reason_is_refused_at_the_api_door(offered, other_agent):
    before = row_counts()
    response = client_for(other_agent).post(
        f"/api/v1/handoffs/{offered.pk}/reject/", {"reason": "x" * 1_500_000}, format="json"
    )
    assert response.status_code == 400
    assert row_counts() == before


def test_a_megabyte_ping_pong_reason_is_refused_at_the_web_door(offered, agent, other_agent):
    # Accepted a minute ago (the web door judges ping-pong at the real time).
    handoff_accept(handoff=offered, actor=other_agent, now=timezone.now() - timedelta(minutes=1))
    case = Incident.objects.get(pk=offered.incident_id)
    web = Client()
    web.force_login(other_agent)
    before = row_counts()
    response = web.post(
        reverse("escalations:case-handoff", args=[case.pk]),
        {
            "version": case.version,
            "to_user": agent.pk,
            "to_stage": case.stage,
            "ping_pong_reason": "x" * 1_000_000,
            **PACKET,
        },
    )
    assert response.status_code == 400
    assert "under 2,000 characters" in response.content.decode()
    assert row_counts() == before
