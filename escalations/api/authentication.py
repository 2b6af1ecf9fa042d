"""API token authentication: django-rest-knox's hashed, expiring tokens
(escalations.models.ApiToken), with the user's permissions read in the same statement
as the token and the user.

A key is never stored: its SHA-512 digest is the table's primary key, so one indexed
look-up finds the token. knox's own class looks tokens up by their first characters and
then compares digests, loads the user in a second step, and deletes the user's expired
tokens on every request; here the digest is looked up directly, the user and their
permissions come in the same statement (into RoleBackend's per-request cache,
``permissions_remember``, so ``user.has_perms`` needs no query), and an expired token is simply
refused (``token_create`` clears them away). Same errors as DRF's token class
(tests/integration/test_api_authentication.py); off PostgreSQL the ORM does the look-up.
"""

from __future__ import annotations

import binascii
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.crypto import hash_token
from rest_framework import authentication, exceptions

from escalations.fastpath import fetch_rows
from escalations.models import ApiToken
from escalations.security.backends import permissions_remember, permissions_sql


@cache
def _token_sql() -> tuple[str, list[str], list[str]]:
    """SELECT token columns, user columns, and the user's permissions as one text array
    ("app_label.codename"), for one token digest."""
    user_model = get_user_model()
    quote = connection.ops.quote_name
    token_fields = [f.attname for f in ApiToken._meta.concrete_fields]
    user_fields = [f.attname for f in user_model._meta.concrete_fields]
    columns = [f"t.{quote(name)}" for name in token_fields] + [f"u.{quote(name)}" for name in user_fields]
    # permissions_sql yields (app_label, codename) rows; fold them into one array.
    perms = permissions_sql(user_id=f"u.{quote(user_model._meta.pk.column)}")
    sql = (
        f"SELECT {', '.join(columns)}, ARRAY(SELECT perm.app_label || '.' || perm.codename FROM ({perms}) perm) "
        f"FROM {quote(ApiToken._meta.db_table)} t "
        f"JOIN {quote(user_model._meta.db_table)} u "
        f"ON u.{quote(user_model._meta.pk.column)} = t.{quote(ApiToken._meta.get_field('user').column)} "
        f"WHERE t.{quote(ApiToken._meta.pk.column)} = %s"
    )
    return sql, token_fields, user_fields


def _find(digest: str) -> tuple[Any, ApiToken] | None:
    sql, token_fields, user_fields = _token_sql()
    rows = fetch_rows(sql, [digest])
    if not rows:
        return None
    row = rows[0]
    n = len(token_fields)
    token = ApiToken.from_db("default", token_fields, row[:n])
    user = get_user_model().from_db("default", user_fields, row[n : n + len(user_fields)])
    token.user = user
    if not user.is_superuser:  # RoleBackend reads superusers' permissions itself
        permissions_remember(user, set(row[-1]))
    return user, token


class TokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>``; request.auth is the ApiToken."""

    keyword = "Token"

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        try:
            digest = hash_token(key)
        except (TypeError, ValueError, binascii.Error):
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        found = _find(digest)
        if found is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user, token = found
        if token.expiry is not None and token.expiry <= timezone.now():
            raise exceptions.AuthenticationFailed(_("Token has expired."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, token
