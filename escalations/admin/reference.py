"""Reference data Policy Admins edit: policies and their chains, trigger rules, SOP
templates, teams, shifts, channels, calendars, customers, staff profiles.

Plain ModelAdmin saves are right here: these rows are configuration, not workflow, and
HistoryRequestMiddleware records request.user as the history_user of each change. The
ModelForms call each model's clean(), which holds its field rules. Cases snapshot their
targets at intake, so editing a policy changes future cases only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from escalations.admin.base import BaseAdmin
from escalations.models import (
    BusinessCalendar,
    Channel,
    Customer,
    EscalationStep,
    Holiday,
    SeverityPolicy,
    Shift,
    SOPTemplate,
    SOPTemplateItem,
    StaffProfile,
    Team,
    TriggerRule,
)
from escalations.services.webhooks import team_webhook_secret_rotate


class EscalationStepInline(admin.TabularInline):
    model = EscalationStep
    extra = 0
    fields = ("level", "target", "team", "user", "wait", "channels")
    autocomplete_fields = ("team", "user")
    ordering = ("level",)


@admin.register(SeverityPolicy)
class SeverityPolicyAdmin(BaseAdmin):
    list_display = ("key", "name", "rank", "ack_target", "resolve_target", "update_cadence", "calendar", "review_by")
    list_filter = ("calendar", "requires_commander", "allows_executive_escalation")
    search_fields = ("key", "name")
    list_select_related = ("calendar",)
    autocomplete_fields = ("calendar",)
    inlines = (EscalationStepInline,)
    fieldsets = (
        (None, {"fields": ("key", "rank", "name", "description", "review_by")}),
        (
            "Targets",
            {
                "fields": (
                    "ack_target",
                    "resolve_target",
                    "update_cadence",
                    "warning_pct",
                    "handoff_accept_within",
                    "calendar",
                ),
                "description": "Open cases keep the targets they were opened with; edits apply to new cases "
                "(and to a case whose severity changes).",
            },
        ),
        (
            "Rules",
            {
                "fields": (
                    "pages_on_intake",
                    "requires_commander",
                    "requires_bridge",
                    "requires_rca",
                    "allows_executive_escalation",
                )
            },
        ),
    )

    def save_model(self, request: HttpRequest, obj: SeverityPolicy, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        targets = {"ack_target", "resolve_target", "update_cadence", "warning_pct", "calendar"}
        if change and targets & set(form.changed_data):
            messages.info(request, "New targets apply to new cases; open cases keep the targets they were opened with.")


@admin.register(EscalationStep)
class EscalationStepAdmin(BaseAdmin):
    list_display = ("policy", "level", "target", "team", "user", "wait", "channels")
    list_filter = ("policy", "target")
    search_fields = ("policy__key", "policy__name", "team__name", "user__username")
    list_select_related = ("policy", "team", "user")
    autocomplete_fields = ("policy", "team", "user")


@admin.register(TriggerRule)
class TriggerRuleAdmin(BaseAdmin):
    list_display = ("name", "kind", "threshold", "severity", "active")
    list_filter = ("kind", "severity", "active")
    search_fields = ("name",)


class SOPTemplateItemInline(admin.TabularInline):
    model = SOPTemplateItem
    extra = 1
    fields = ("order", "text", "required")
    ordering = ("order",)


@admin.register(SOPTemplate)
class SOPTemplateAdmin(BaseAdmin):
    list_display = ("name", "severity", "stage", "category", "active", "item_count")
    list_filter = ("severity", "stage", "active")
    search_fields = ("name", "category", "play")
    inlines = (SOPTemplateItemInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_item_count=Count("items"))

    @admin.display(description="items", ordering="_item_count")
    def item_count(self, obj: SOPTemplate) -> int:
        return obj._item_count


@admin.register(SOPTemplateItem)
class SOPTemplateItemAdmin(BaseAdmin):
    list_display = ("text", "template", "order", "required")
    list_filter = ("required", "template__severity", "template__stage")
    search_fields = ("text", "template__name")
    list_select_related = ("template",)
    autocomplete_fields = ("template",)


@admin.register(Team)
class TeamAdmin(BaseAdmin):
    """Teams. The webhook URL is checked by Team.clean (public addresses only); the
    signing secret is never shown on the form: "Rotate webhook signing secret" issues a
    new one (team_webhook_secret_rotate) and shows it once, to give to the receiver."""

    list_display = ("name", "slug", "email", "member_count", "has_webhook", "open_read_access")
    search_fields = ("name", "slug", "email")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("members",)
    readonly_fields = ("webhook_signing_secret",)
    actions = ["rotate_webhook_secret"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_member_count=Count("members", distinct=True))

    @admin.display(description="members", ordering="_member_count")
    def member_count(self, obj: Team) -> int:
        return obj._member_count

    @admin.display(description="webhook", boolean=True)
    def has_webhook(self, obj: Team) -> bool:
        return bool(obj.webhook_url)

    @admin.display(description="webhook signing secret")
    def webhook_signing_secret(self, obj: Team) -> str:
        return (
            "Each team signs its webhooks with its own secret (Standard Webhooks). It is shown only when "
            'issued: select the team in the list and run "Rotate webhook signing secret" to get a new one.'
        )

    @admin.action(description="Rotate webhook signing secret", permissions=["change"])
    def rotate_webhook_secret(self, request: HttpRequest, queryset: QuerySet[Team]) -> TemplateResponse:
        rotated = [
            (team, team_webhook_secret_rotate(team_id=team.pk, actor=request.user))
            for team in queryset.order_by("name")
        ]
        # The admin's views are never cached (never_cache), so the page with the secrets
        # is not kept by the browser or a proxy.
        return TemplateResponse(
            request,
            "admin/escalations/team/webhook_secret_rotated.html",
            {
                **self.admin_site.each_context(request),
                "title": "New webhook signing secrets",
                "opts": self.model._meta,
                "rotated": rotated,
            },
        )


@admin.register(Shift)
class ShiftAdmin(BaseAdmin):
    list_display = ("user", "team", "role", "starts_at", "ends_at")
    list_filter = ("role", "team")
    search_fields = ("user__username", "user__first_name", "user__last_name", "team__name")
    list_select_related = ("user", "team")
    autocomplete_fields = ("user", "team")
    ordering = ("-starts_at",)


@admin.register(Channel)
class ChannelAdmin(BaseAdmin):
    list_display = ("name", "slug", "kind", "agreed")
    list_filter = ("kind", "agreed")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 1
    fields = ("date", "name")


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(BaseAdmin):
    list_display = ("name", "is_24x7", "timezone", "workdays", "day_start", "day_end")
    list_filter = ("is_24x7",)
    search_fields = ("name", "timezone")
    inlines = (HolidayInline,)


@admin.register(Holiday)
class HolidayAdmin(BaseAdmin):
    list_display = ("date", "name", "calendar")
    list_filter = ("calendar",)
    search_fields = ("name", "calendar__name")
    list_select_related = ("calendar",)
    autocomplete_fields = ("calendar",)
    ordering = ("-date",)


@admin.register(Customer)
class CustomerAdmin(BaseAdmin):
    list_display = ("name", "tier", "arr", "created_at")
    list_filter = ("tier",)
    search_fields = ("name", "contacts")


@admin.register(StaffProfile)
class StaffProfileAdmin(BaseAdmin):
    list_display = ("user", "timezone")
    search_fields = ("user__username", "user__first_name", "user__last_name", "timezone")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
