"""Reference data Policy Admins edit: policies and their chains, trigger rules, SOP
templates, teams, shifts, channels, calendars, customers, staff profiles.

Plain ModelAdmin saves are right here: these rows are configuration, not workflow, and
HistoryRequestMiddleware records request.user as the history_user of each change. The
ModelForms call each model's clean(), which holds its field rules. A policy change asks
for a reason, kept as its history rows' change reason. Cases snapshot their
targets at intake, so editing a policy changes future cases only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from escalations.admin.base import BaseAdmin
from escalations.models import (
    BreachCauseOption,
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
from escalations.services.common import history_note
from escalations.services.policies import POLICY_EDITABLE_FIELDS
from escalations.services.webhooks import team_webhook_secret_rotate

# Widths of the chain's columns: at their defaults (20em pickers and text boxes) the
# six-column table made the policy page 1,799 px wide at a 1,280 px window.
STEP_WIDGET_STYLES = {
    "level": "width: 3.5em",
    "team": "width: 9em",
    "user": "width: 9em",
    "wait": "width: 5.5em",
    "channels": "width: 12em",
}


class EscalationStepInline(admin.TabularInline):
    model = EscalationStep
    extra = 0
    fields = ("level", "target", "team", "user", "wait", "channels")
    autocomplete_fields = ("team", "user")
    ordering = ("level",)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        style = STEP_WIDGET_STYLES.get(db_field.name)
        if formfield is not None and style:
            # Autocomplete pickers sit inside the related-object wrapper; select2 takes its
            # width from the select's style attribute.
            widget = getattr(formfield.widget, "widget", formfield.widget)
            widget.attrs["style"] = style
            if hasattr(formfield.widget, "can_delete_related"):
                # No "delete this team/person" icon on a chain row: a slip there deletes
                # far more than a step, and the icons then fit on one line.
                formfield.widget.can_delete_related = False
        return formfield


def _history_reason_max_length() -> int:
    return SeverityPolicy.history.model._meta.get_field("history_change_reason").max_length or 100


class SeverityPolicyForm(forms.ModelForm):
    """A reason for every change, kept as the history row's change reason (required when
    changing; "Created" when left blank on add). The warning share is checked here so
    150 reads as an error on its field instead of the database constraint's name."""

    change_reason = forms.CharField(
        label="Reason for the change",
        required=False,
        max_length=_history_reason_max_length(),
        widget=forms.TextInput(attrs={"class": "vTextField"}),
        help_text="Kept in the policy's history with your name (covers the escalation steps too).",
    )

    class Meta:
        model = SeverityPolicy
        fields = ("key", "rank", *POLICY_EDITABLE_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "change_reason" in self.fields and self.instance.pk is not None:
            self.fields["change_reason"].required = True
            self.fields["change_reason"].error_messages["required"] = "Say why you are changing this policy."
        if "warning_pct" in self.fields:
            self.fields["warning_pct"].widget.attrs.update({"min": 1, "max": 100})

    def clean_warning_pct(self) -> int | None:
        value = self.cleaned_data.get("warning_pct")
        if value is not None and not 1 <= value <= 100:
            raise ValidationError("Between 1 and 100 %.", code="warning_pct_range")
        return value


@admin.register(SeverityPolicy)
class SeverityPolicyAdmin(BaseAdmin):
    form = SeverityPolicyForm
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
                    "rca_due_business_days",
                    "allows_executive_escalation",
                )
            },
        ),
    )

    reason_fieldset = ("Reason", {"fields": ("change_reason",)})

    def get_fieldsets(self, request: HttpRequest, obj: SeverityPolicy | None = None):
        # A view-only page has nothing to give a reason for.
        if obj is not None and not self.has_change_permission(request, obj):
            return self.fieldsets
        return (*self.fieldsets, self.reason_fieldset)

    @staticmethod
    def history_reason(form: Any, change: bool) -> str:
        return form.cleaned_data.get("change_reason") or ("" if change else "Created")

    def save_model(self, request: HttpRequest, obj: SeverityPolicy, form: Any, change: bool) -> None:
        history_note(obj, reason=self.history_reason(form, change))
        super().save_model(request, obj, form, change)
        targets = {"ack_target", "resolve_target", "update_cadence", "warning_pct", "calendar"}
        if change and targets & set(form.changed_data):
            messages.info(request, "New targets apply to new cases; open cases keep the targets they were opened with.")

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # Chain steps added, changed or deleted in the same save carry the same reason.
        reason = self.history_reason(form, change)
        for step_form in formset.forms:
            history_note(step_form.instance, reason=reason)
        super().save_formset(request, form, formset, change)


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
    fields = ("order", "text", "required", "fact")
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
    list_display = ("name", "tier", "arr", "monthly_fee", "created_at")
    list_filter = ("tier",)
    search_fields = ("name", "contacts")


@admin.register(StaffProfile)
class StaffProfileAdmin(BaseAdmin):
    list_display = ("user", "timezone")
    search_fields = ("user__username", "user__first_name", "user__last_name", "timezone")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)


@admin.register(BreachCauseOption)
class BreachCauseOptionAdmin(BaseAdmin):
    """The list breach causes are picked from. A cause is retired (made inactive), never
    deleted: breaches keep the cause they were given. Its code is what reports and the
    API key it by, so it is set once."""

    list_display = ("label", "code", "is_active", "position")
    list_filter = ("is_active",)
    list_editable = ("position",)
    search_fields = ("label", "code", "description")
    ordering = ("position", "label")

    def get_readonly_fields(self, request: HttpRequest, obj: BreachCauseOption | None = None) -> tuple[str, ...]:
        return ("code",) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: BreachCauseOption | None = None) -> bool:
        return False
