"""The one error shape, the exception handler's mappings, the OpenAPI document and the
self-hosted docs page."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.test import APIClient

from escalations.api.errors import api_exception_handler, flatten_detail
from escalations.errors import NotAllowed, RuleViolation, VersionConflict
from tests.integration.api_support import _api_test_env, assert_error, client_for

__all__ = ["_api_test_env"]


# --- the handler, unit by unit ------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status", "code", "fields"),
    [
        (RuleViolation("Say why.", field="reason"), 400, "rule_violation", {"reason": ["Say why."]}),
        (RuleViolation("Not while open."), 400, "rule_violation", {}),
        (
            NotAllowed("Managers only.", field="severity", code="downgrade_needs_manager"),
            403,
            "downgrade_needs_manager",
            {"severity": ["Managers only."]},
        ),
        (DjangoValidationError({"ack_target": ["Too long."]}), 400, "invalid", {"ack_target": ["Too long."]}),
        (DjangoValidationError("Bad."), 400, "invalid", {"non_field_errors": ["Bad."]}),
        (Http404("No such case."), 404, "not_found", {}),
        (DjangoPermissionDenied("Nope."), 403, "permission_denied", {}),
        (
            exceptions.ValidationError({"title": ["Required."], "tags": [{"name": ["Bad."]}]}),
            400,
            "invalid",
            {"title": ["Required."], "tags.0.name": ["Bad."]},
        ),
        (exceptions.Throttled(wait=12), 429, "throttled", {}),
        (exceptions.NotAuthenticated(), 401, "not_authenticated", {}),
    ],
)
def test_handler_maps_every_error_to_one_shape(exc, status, code, fields):
    response = api_exception_handler(exc, {})
    assert response.status_code == status
    assert response.data["error"]["code"] == code
    assert response.data["error"]["fields"] == fields
    assert response.data["error"]["message"]


def test_version_conflict_carries_the_current_version_and_changes():
    exc = VersionConflict("Changed.", current_version=4, changed={"title": ["a", "b"]})
    error = api_exception_handler(exc, {}).data["error"]
    assert error["current_version"] == 4 and error["changed"] == {"title": ["a", "b"]}
    assert error["fields"] == {"version": ["Changed."]}


def test_throttled_sets_retry_after():
    assert api_exception_handler(exceptions.Throttled(wait=12), {})["Retry-After"] == "12"


def test_unexpected_errors_are_left_to_django():
    assert api_exception_handler(ZeroDivisionError(), {}) is None


def test_flatten_detail_keeps_lists_of_messages_on_their_field():
    assert flatten_detail({"a": ["x", "y"], "b": {"c": ["z"]}}) == {"a": ["x", "y"], "b.c": ["z"]}


# --- over HTTP ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_unknown_api_paths_answer_in_the_error_shape(agent):
    client = client_for(agent)
    assert_error(client.get("/api/v1/nothing-here/"), 404, code="not_found")
    # No trailing slash: a 404 in the API's shape, not a redirect that turns POST into GET.
    assert_error(client.post("/api/v1/incidents", {}, format="json"), 404)


@pytest.mark.django_db
def test_method_not_allowed_and_not_acceptable(agent):
    client = client_for(agent)
    assert_error(client.delete("/api/v1/incidents/"), 405, code="method_not_allowed")
    assert_error(client.get("/api/v1/incidents/", HTTP_ACCEPT="text/csv"), 406, code="not_acceptable")


@pytest.mark.django_db
def test_schema_is_served_and_covers_the_contract(agent):
    # For signed-in users only (test_logins.py covers the refusal).
    response = client_for(agent).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for path in [
        "/api/v1/incidents/",
        "/api/v1/incidents/{id}/",
        "/api/v1/incidents/{id}/acknowledge/",
        "/api/v1/incidents/{id}/pause/",
        "/api/v1/incidents/{id}/resume/",
        "/api/v1/incidents/{id}/resolve/",
        "/api/v1/incidents/{id}/reopen/",
        "/api/v1/incidents/{id}/severity/",
        "/api/v1/incidents/{id}/updates/",
        "/api/v1/incidents/{id}/timeline/",
        "/api/v1/incidents/{id}/checklist/",
        "/api/v1/checklist-items/{id}/complete/",
        "/api/v1/incidents/{id}/handoffs/",
        "/api/v1/handoffs/{id}/accept/",
        "/api/v1/handoffs/{id}/reject/",
        "/api/v1/breaches/",
        "/api/v1/policies/",
        "/api/v1/policies/{key}/",
        "/api/v1/metrics/weekly/",
        "/api/v2/metrics/weekly/",
        "/api/v1/intake/",
    ]:
        assert path in paths, path
    # Every operation documents its errors in the one shape.
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = {int(c) for c in operation["responses"]}
            assert any(c >= 400 for c in codes), (method, path)
    assert "ErrorOut" in schema["components"]["schemas"]
    assert schema["components"]["securitySchemes"]["tokenAuth"]["type"] == "apiKey"


@pytest.mark.django_db
def test_docs_page_uses_only_assets_installed_with_the_project(agent):
    client = APIClient()
    client.force_login(agent)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    # The start-up script is served from its own URL (no inline script under the CSP).
    html = response.content.decode() + client.get("/api/docs/?script=").content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r'url: "([^"]+)"', html)
    assert any("swagger-ui" in u for u in urls), urls
    for u in urls:
        assert not re.match(r"^(https?:)?//", u), f"external asset {u}"
    assert "/static/drf_spectacular_sidecar/" in html


# --- errors Django answers itself, in the API's shape under /api/ ---------------------------


@pytest.mark.django_db
def test_an_oversized_body_is_a_json_400(agent, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client_for(agent).post("/api/v1/incidents/", {"title": "x" * 5000}, format="json")
    assert response["Content-Type"].startswith("application/json")
    assert_error(response, 400, code="bad_request")


@pytest.mark.django_db
def test_an_unhandled_error_is_a_json_500(agent, monkeypatch):
    from escalations.api.views import reference as views

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "breach_list", broken)
    client = client_for(agent)
    client.raise_request_exception = False
    response = client.get("/api/v1/breaches/")
    assert response["Content-Type"].startswith("application/json")
    error = assert_error(response, 500, code="server_error")
    assert "a bug" not in error["message"]


@pytest.mark.django_db
def test_a_csrf_refusal_under_api_is_json(agent):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(agent)
    response = client.post("/api/v1/incidents/", {"title": "x"}, format="json")
    assert_error(response, 403)


@pytest.mark.django_db
def test_pages_outside_the_api_keep_django_s_html_errors(agent):
    from django.test import Client

    client = Client()
    client.force_login(agent)
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.parametrize("week", ["9999-W52", "9999-W53", "0000-W01", "2026-W99"])
def test_weeks_the_calendar_cannot_hold_are_a_400_naming_the_field(manager, week):
    assert_error(client_for(manager).get(f"/api/v1/metrics/weekly/?week={week}"), 400, field="week")
