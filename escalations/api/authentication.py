"""API token authentication: DRF's TokenAuthentication, with the user's permissions read
in the same statement as the token and the user.

Every API request authenticates and then checks a role permission; DRF reads the token
and its user in one query and RoleBackend the user's permissions in another. On
PostgreSQL both come from one statement here and the permissions land in RoleBackend's
per-request cache (``_perm_cache``), so ``user.has_perms`` needs no query. Same answers
and errors as DRF's class (tests/integration/test_api_authentication.py); other
databases use DRF's own path.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from escalations.backends import permissions_sql
from escalations.db import fast_reads, fetch_rows


@cache
def _token_sql() -> tuple[str, list[str], list[str]]:
    """SELECT token columns, user columns, and the user's permissions as one text array
    ("app_label.codename"), for one token key."""
    user_model = get_user_model()
    quote = connection.ops.quote_name
    token_fields = [f.attname for f in Token._meta.concrete_fields]
    user_fields = [f.attname for f in user_model._meta.concrete_fields]
    columns = [f"t.{quote(name)}" for name in token_fields] + [f"u.{quote(name)}" for name in user_fields]
    # permissions_sql yields (app_label, codename) rows; fold them into one array.
    perms = permissions_sql(user_id=f"u.{quote(user_model._meta.pk.column)}")
    sql = (
        f"SELECT {', '.join(columns)}, ARRAY(SELECT perm.app_label || '.' || perm.codename FROM ({perms}) perm) "
        f"FROM {quote(Token._meta.db_table)} t "
        f"JOIN {quote(user_model._meta.db_table)} u "
        f"ON u.{quote(user_model._meta.pk.column)} = t.{quote(Token._meta.get_field('user').column)} "
        f"WHERE t.{quote(Token._meta.pk.column)} = %s"
    )
    return sql, token_fields, user_fields


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        if self.get_model() is not Token or not fast_reads():
            return super().authenticate_credentials(key)
        sql, token_fields, user_fields = _token_sql()
        rows = fetch_rows(sql, [key])
        if not rows:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        row = rows[0]
        n = len(token_fields)
        token = Token.from_db("default", token_fields, row[:n])
        user = get_user_model().from_db("default", user_fields, row[n : n + len(user_fields)])
        token.user = user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        if not user.is_superuser:  # RoleBackend reads superusers' permissions itself
            user._perm_cache = set(row[-1])
        return user, token
