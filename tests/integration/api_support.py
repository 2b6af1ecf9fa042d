"""Helpers for the API tests (tests/integration/test_api_*.py): token clients, the
clock, the error-shape assertion, and a whole-database row count used to prove that a
refused request changed nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from escalations.services.tokens import token_create
from tests.conftest import T0


def token_for(user: Any) -> str:
    """A real API token (hashed knox token) for ``user``; its key. Without an expiry, so
    tests that move the clock (or run long after T0) are not signed out; expiry has its
    own tests (test_logins.py)."""
    _, key = token_create(user=user, actor=user, name="test", ttl=None)
    return key


def client_for(user: Any | None) -> APIClient:
    """A client authenticating as ``user`` with a real API token (None: anonymous)."""
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    """Freeze the doors' timezone.now() at T0 (the conftest `now`); move with
    clock.move_to(...)."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _api_test_env(settings: Any) -> Iterator[None]:
    # Plain http:// in the test client whatever the environment (`make test` exports
    # SECURE_SSL_REDIRECT=0; a bare pytest run may not).
    settings.SECURE_SSL_REDIRECT = False
    # Personas are made with passwords; the fast hasher keeps fixtures quick.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Throttle history lives in the cache; one test's requests must not throttle another's.
    cache.clear()
    yield
    cache.clear()


def row_counts() -> dict[str, int]:
    """Rows of every escalations table (history tables included) and of users, in one
    query. Tokens and the access log are left out: a test's clients create theirs
    (and log it) on first use."""
    left_out = {
        "escalations.ApiToken",
        "escalations.HistoricalApiToken",
        "escalations.AccessEvent",
        "escalations.HistoricalAccessEvent",
    }
    models = [
        *(m for m in apps.get_app_config("escalations").get_models() if m._meta.label not in left_out),
        apps.get_model("auth", "User"),
    ]
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(m._meta.db_table)})" for m in models)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return {m._meta.label: int(n) for m, n in zip(models, row, strict=True)}


def assert_error(response: Any, status: int, *, field: str | None = None, code: str | None = None) -> dict:
    """The one error shape: {"error": {"code", "message", "fields"}}; ``field`` named."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["fields"], dict), error
    if field is not None:
        assert field in error["fields"], error
        assert all(isinstance(m, str) and m for m in error["fields"][field]), error
    if code is not None:
        assert error["code"] == code, error
    return error


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
