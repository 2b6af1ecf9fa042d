"""Every admin route of every case-bound model keeps a case's rows to the people who may
see the case, generated from the admin's own URLs: list, add, change, delete, history,
each history version (simple-history's version page), autocomplete and the site's
"view on site" shortcut. A Policy Admin in one team meets two cases with a row in every
case-bound model: their team's (visible) and another team's (hidden, with a secret in its
title that must appear on no page). A route the admin grows that this table does not
know fails the test, so a new door cannot open unscoped."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse

from escalations.admin.base import CaseScopedAdminMixin
from escalations.models import (
    Breach,
    Incident,
    Postmortem,
    PostmortemActionItem,
    RcaReminder,
    ServiceCreditRule,
)
from escalations.services import (
    customer_update_post,
    handoff_offer,
    incident_acknowledge,
    incident_pause,
    incident_resume,
)
from escalations.services.common import audited_create
from escalations.services.engine.sweep import sweep_run
from escalations.services.postmortems import ActionItemInput, postmortem_write
from escalations.services.valves import executive_escalation_request, service_credit_request
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

SECRET = "Zanzibar merger leak"
H = timedelta(hours=1)
M = timedelta(minutes=1)

# Each admin URL name of a model, by the part after "<app>_<model>_", and whether it
# names one row. A name not listed here fails test_every_admin_route_is_known.
MODEL_ROUTES = {
    "changelist": False,
    "add": False,
    "history": True,
    "simple_history": True,
    "delete": True,
    "change": True,
}
# The site's own routes: none names a case row except the "view on site" shortcut.
# Routes of one model's admin beyond the standard ones (Django's user admin).
EXTRA_MODEL_ROUTES = {"auth_user_password_change"}
SITE_ROUTES = {"index", "login", "logout", "password_change", "password_change_done", "autocomplete", "jsi18n",
               "view_on_site", "app_list"}  # fmt: skip


def path_to_case(model, depth: int = 0) -> str | None:
    """The lookup from ``model`` to its case ("" for a case), None for rows of no case."""
    if model is Incident:
        return ""
    relations = [f for f in model._meta.concrete_fields if f.is_relation and f.related_model is not None]
    for field in relations:
        if field.related_model is Incident:
            return field.name
    if depth < 2:
        for field in relations:
            if field.related_model._meta.app_label == "escalations" and field.related_model is not model:
                inner = path_to_case(field.related_model, depth + 1)
                if inner:
                    return f"{field.name}__{inner}"
    return None


def case_bound_models() -> list[type[models.Model]]:
    return [
        m
        for m in apps.get_app_config("escalations").get_models()
        if not m.__name__.startswith("Historical") and path_to_case(m) is not None
    ]


def _names(patterns, prefix="") -> list[str]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _names(pattern.url_patterns, prefix)
        elif isinstance(pattern, URLPattern) and pattern.name:
            found.append(pattern.name)
    return found


def test_every_case_bound_model_is_scoped():
    unscoped = [
        m.__name__ for m in case_bound_models() if not isinstance(admin.site._registry.get(m), CaseScopedAdminMixin)
    ]
    assert unscoped == []
    assert {"Incident", "CaseEvent", "Breach", "Notification", "Postmortem", "RcaReminder", "ServiceCreditBreach"} <= {
        m.__name__ for m in case_bound_models()
    }


def test_every_admin_route_is_known():
    unknown = []
    model_names = set()
    for model, model_admin in admin.site._registry.items():
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        for name in _names(model_admin.get_urls()):
            model_names.add(name)
            if name in EXTRA_MODEL_ROUTES:
                continue
            if not (name.startswith(prefix) and name.removeprefix(prefix) in MODEL_ROUTES):
                unknown.append(name)
    site = set(_names(admin.site.get_urls())) - model_names
    unknown += sorted(site - SITE_ROUTES)
    assert unknown == []


@pytest.fixture
def world(playbook, customer, email_channel, policy_admin, now):
    """Two S1 cases with a row in every case-bound model: one of the Policy Admin's team,
    one of another team (with the secret in its title)."""
    ServiceCreditRule.objects.create(tier=customer.tier, percent_per_hour=Decimal(2), cap_percent=Decimal(10))
    customer.monthly_fee = Decimal(10000)
    customer.save()
    worker = UserFactory(username="wanda_worker", roles=["CS Agents"])
    receiver = UserFactory(username="rick_receiver", roles=["CS Agents"])
    UserFactory(username="mo_manager", roles=["Managers"])
    visible_team = TeamFactory(name="Policy team", slug="policy-team", members=[policy_admin, worker, receiver])
    hidden_team = TeamFactory(name="Hidden team", slug="hidden-team", members=[worker, receiver])
    from escalations.services import incident_create

    cases = {}
    for key, team, mark in (("visible", visible_team, "Plain"), ("hidden", hidden_team, SECRET)):
        title = f"{mark} case"
        case = incident_create(
            actor=worker, title=title, customer=customer, channel=email_channel, now=now, team=team,
            stage_dri=worker, arr_at_risk=60000, severity="S1", severity_reason="Board-level customer",
        )  # fmt: skip
        sweep_run(now=now + 30 * M, source="test")  # acknowledge breach, escalation, pages
        incident_acknowledge(incident=case, actor=worker, now=now + 40 * M)
        incident_pause(incident=case, reason="customer", note=f"{mark} logs", actor=worker, now=now + 41 * M)
        incident_resume(incident=case, actor=worker, now=now + 42 * M)
        customer_update_post(incident=case, body=f"{mark} update", channel=None, actor=worker, now=now + 43 * M)
        handoff_offer(
            incident=case, actor=worker, now=now + 44 * M, to_user=receiver, to_stage="triage",
            summary=f"{mark} summary", customer_impact="c", next_steps="n",
        )  # fmt: skip
        executive_escalation_request(incident=case, reason=f"{mark} exec", actor=worker, now=now + 45 * M)
        breaches = list(Breach.objects.filter(incident=case).values_list("pk", flat=True))
        service_credit_request(
            incident=case, breaches=breaches, amount="1.00", justification=f"{mark} credit", actor=worker,
            now=now + 46 * M,
        )  # fmt: skip
        postmortem_write(
            incident=case, actor=worker, now=now + 47 * M, values={"summary": f"{mark} rca"},
            items=[ActionItemInput(pk=None, description=f"{mark} item", owner=worker, due_date=now.date(), done=False)],
        )  # fmt: skip
        postmortem = Postmortem.objects.get(incident=case)
        audited_create(
            RcaReminder, history_user=worker, postmortem=postmortem, stage="owner", due_at=now, sent_at=now + 48 * M
        )
        cases[key] = case
    assert PostmortemActionItem.objects.count() == 2
    return cases


def _row(model, case: Incident):
    lookup = path_to_case(model)
    qs = model.objects.all() if lookup == "" else model.objects.filter(**{lookup: case})
    if lookup == "":
        qs = qs.filter(pk=case.pk)
    return qs.order_by("pk").first()


def _history_id(row) -> int | None:
    history = getattr(type(row), "history", None)
    if history is None:
        return None
    return (
        history.filter(**{row._meta.pk.attname: row.pk})
        .order_by("history_id")
        .values_list("history_id", flat=True)
        .first()
    )


def test_every_admin_route_of_a_case_bound_model_keeps_hidden_cases_hidden(world, policy_admin):
    client = Client()
    client.force_login(policy_admin)
    leaks, missing, seen_ok = [], [], []
    for model in case_bound_models():
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        for key, case in world.items():
            row = _row(model, case)
            if row is None:
                missing.append((model.__name__, key))
                continue
            history_id = _history_id(row)
            urls = {
                "change": reverse(f"{info}_change", args=[row.pk]),
                "delete": reverse(f"{info}_delete", args=[row.pk]),
                "history": reverse(f"{info}_history", args=[row.pk]),
                "simple_history": reverse(f"{info}_simple_history", args=[row.pk, history_id]),
            }
            for kind, url in urls.items():
                response = client.get(url)
                body = response.content.decode(errors="replace")
                if key == "hidden" and (response.status_code == 200 or SECRET in body):
                    leaks.append((model.__name__, kind, response.status_code))
                if key == "visible" and response.status_code == 200 and kind != "delete":
                    seen_ok.append((model.__name__, kind))
        changelist = client.get(reverse(f"{info}_changelist"))
        if SECRET in changelist.content.decode(errors="replace"):
            leaks.append((model.__name__, "changelist", changelist.status_code))
    assert missing == []
    assert leaks == []
    # The Policy Admin's own team's case opens wherever the role may view the model.
    for model in ("Incident", "CaseEvent", "Breach", "Notification"):
        assert {(model, kind) for kind in ("change", "history", "simple_history")} <= set(seen_ok), model


def test_the_sites_shortcut_and_autocomplete_keep_hidden_cases_hidden(world, policy_admin):
    client = Client()
    client.force_login(policy_admin)
    hidden = world["hidden"]
    incident_type = ContentType.objects.get_for_model(Incident)
    shortcut = client.get(reverse("admin:view_on_site", args=[incident_type.pk, hidden.pk]))
    assert shortcut.status_code == 404
    found = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "escalations", "model_name": "breach", "field_name": "incident", "term": SECRET},
    )
    assert SECRET not in found.content.decode(errors="replace")


def test_a_manager_sees_every_version_page(world, manager):
    client = Client()
    client.force_login(manager)
    hidden = world["hidden"]
    history_id = _history_id(hidden)
    page = client.get(reverse("admin:escalations_incident_simple_history", args=[hidden.pk, history_id]))
    assert page.status_code == 200 and SECRET in page.content.decode()
