"""Access in the admin: users and groups with their history, integration tokens (issued,
listed, revoked), the access log, and login lockouts (django-axes) that can be lifted.

Issuing, revoking and unlocking go through escalations.services.tokens, which logs
each with the acting administrator; nothing here deletes a token or an attempt itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from escalations.admin.base import BaseAdmin, ReadOnlyAdminMixin
from escalations.models import AccessEvent, ApiToken
from escalations.security.roles import INTEGRATIONS
from escalations.services import tokens

User = get_user_model()

admin.site.unregister(User)
admin.site.unregister(Group)
admin.site.unregister(AccessAttempt)


@admin.register(User)
class UserAdmin(BaseAdmin, DjangoUserAdmin):
    """Django's user admin with simple-history's history view (group and permission
    memberships included). Reverting is off: an old copy has no password and would
    hand back roles someone took away on purpose."""

    allow_revert = False
    actions = ["revoke_api_tokens"]

    @admin.action(description="Revoke all API tokens of the selected users", permissions=["change"])
    def revoke_api_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = sum(
            tokens.token_revoke_all(user=user, actor=request.user, reason="revoked in the admin") for user in queryset
        )
        self.message_user(request, f"Revoked {count} API token(s).", messages.SUCCESS)


@admin.register(Group)
class GroupAdmin(BaseAdmin, DjangoGroupAdmin):
    allow_revert = False


class IntegrationTokenForm(forms.ModelForm):
    """Issue a named token for an integration account (a member of the Integrations
    role). People get their own tokens from the token endpoint."""

    lifetime_days = forms.IntegerField(
        min_value=0,
        required=False,
        help_text="Days until it stops working; 0 for never. Empty: INTEGRATION_TOKEN_TTL_DAYS.",
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "user" in self.fields:  # the add form; an issued token is read-only
            self.fields["user"].queryset = User.objects.filter(groups__name=INTEGRATIONS, is_active=True).order_by(
                "username"
            )
            self.fields["user"].label = "Integration"
            self.fields["name"].required = True


class IsIntegrationFilter(admin.SimpleListFilter):
    title = "owner"
    parameter_name = "integration"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Integrations"), ("no", "People")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(is_integration=self.value() == "yes")
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(BaseAdmin):
    """Tokens are listed by their first characters (the rest is never stored), issued for
    integrations here, and revoked by deleting them."""

    form = IntegrationTokenForm
    allow_revert = False
    list_display = ["token_key", "name", "user", "is_integration", "created", "expiry"]
    list_filter = [IsIntegrationFilter, "created", "expiry"]
    list_select_related = ["user"]
    search_fields = ["token_key", "name", "user__username"]
    ordering = ["-created"]
    readonly_fields = ["token_key", "name", "user", "created", "expiry"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        integration = User.groups.through.objects.filter(user_id=OuterRef("user_id"), group__name=INTEGRATIONS)
        return super().get_queryset(request).annotate(is_integration=Exists(integration))

    @admin.display(boolean=True, description="integration", ordering="is_integration")
    def is_integration(self, obj: ApiToken) -> bool:
        return obj.is_integration

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return ["user", "name", "lifetime_days"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiToken, form: forms.Form, change: bool) -> None:
        days = form.cleaned_data.get("lifetime_days")
        ttl: Any = ... if days is None else (timedelta(days=days) if days > 0 else None)
        token, key = tokens.token_create(user=obj.user, name=obj.name, ttl=ttl, actor=request.user)
        obj.pk = token.pk
        obj._key = key

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        # The AccessEvent is the record; LogEntry would store the token's digest as its id.
        return None

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> HttpResponse:
        """The key is shown on this page once; it is not kept anywhere (no message
        cookie, no session)."""
        token = ApiToken.objects.select_related("user").get(pk=obj.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API token issued",
            "token": token,
            "key": obj._key,
        }
        response = TemplateResponse(request, "admin/escalations/apitoken/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def delete_model(self, request: HttpRequest, obj: ApiToken) -> None:
        tokens.token_revoke(tokens=[obj], actor=request.user, reason="revoked in the admin")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        tokens.token_revoke(tokens=queryset, actor=request.user, reason="revoked in the admin")


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdminMixin, BaseAdmin):
    list_display = ["at", "action", "subject_name", "actor", "detail"]
    list_filter = ["action", "at"]
    list_select_related = ["actor"]
    search_fields = ["subject_name", "detail", "actor__username"]
    date_hierarchy = "at"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AccessAttempt)
class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    """axes' list of failed sign-ins ("Locked out" in the status column). Deleting an
    attempt lifts its lockout, logged with the administrator who did it."""

    actions = ["reset_lockouts", "cleanup_expired_attempts"]

    @admin.action(description="Reset: unlock the selected usernames/addresses", permissions=["delete"])
    def reset_lockouts(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = tokens.lockout_reset(attempts=queryset, actor=request.user)
        self.message_user(request, f"Reset {count} lockout record(s).", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: AccessAttempt) -> None:
        tokens.lockout_reset(attempts=AccessAttempt.objects.filter(pk=obj.pk), actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        tokens.lockout_reset(attempts=queryset, actor=request.user)
