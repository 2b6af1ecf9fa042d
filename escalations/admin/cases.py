"""Cases and everything the services and the sweep write about them.

The admin is never a back door around the services: a case is opened through
``incident_create`` and edited through ``incident_update`` (only its EDITABLE_FIELDS);
status, stage, severity and clock fields are read-only here and move only through the
workspace (which calls the services). Rows the services append (events, pauses,
checklists, handoffs, breaches, notifications, heartbeats) are read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminSplitDateTime
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html_join

from escalations.admin.base import (
    CaseScopedAdminMixin,
    LargeTableAdmin,
    ReadableHistoryMixin,
    ReadOnlyInline,
    ServiceFormAdminMixin,
)
from escalations.choices import SeverityKey
from escalations.models import (
    Checklist,
    ChecklistItem,
    ClockPause,
    HandoffPacket,
    Incident,
    pk_from_reference,
)
from escalations.selectors.clocks import Clocks, incident_clocks
from escalations.services import incident_create, incident_update
from escalations.services.severity import EDITABLE_FIELDS
from escalations.sla import ClockState

# The arguments of incident_create a person types in (actor and now come from the request).
CREATE_FIELDS = (
    "title",
    "description",
    "customer",
    "channel",
    "team",
    "category",
    "external_id",
    "reported_at",
    "arr_at_risk",
    "users_affected_pct",
    "data_risk",
    "legal_risk",
    "security_risk",
    "severity",
    "severity_reason",
    "commander",
    "stage_dri",
    "bridge_url",
    "is_drill",
)


def seconds_text(seconds: float) -> str:
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def clock_text(state: ClockState) -> str:
    """One line per clock: state, time left (or over) and the due time in the viewer's zone."""
    parts = [str(state.status).replace("_", " ")]
    if state.remaining is not None:
        left = state.remaining.total_seconds()
        parts.append(f"{seconds_text(left)} left" if left >= 0 else f"{seconds_text(left)} over")
    if state.due_at is not None:
        parts.append(f"due {timezone.localtime(state.due_at):%Y-%m-%d %H:%M %Z}")
    parts.append(f"elapsed {seconds_text(state.elapsed.total_seconds())}")
    return " · ".join(parts)


class IncidentAddForm(forms.ModelForm):
    # Blank means "what the trigger rules say"; a different choice needs a reason, and
    # going below the triggers needs a Manager (incident_create enforces both).
    severity = forms.ChoiceField(choices=[("", "From the trigger rules"), *SeverityKey.choices], required=False)
    reported_at = forms.SplitDateTimeField(
        required=False, widget=AdminSplitDateTime, help_text="When the customer raised it (blank: now)."
    )

    class Meta:
        model = Incident
        fields = CREATE_FIELDS


class IncidentChangeForm(forms.ModelForm):
    # Optimistic lock: the version the administrator loaded. incident_update refuses the
    # change if someone else changed the case in the meantime.
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Incident
        fields = EDITABLE_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "expected_version" in self.fields and self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version


class ChecklistInline(ReadOnlyInline, admin.TabularInline):
    model = Checklist
    fields = ("title", "stage", "items_state")
    readonly_fields = fields
    verbose_name_plural = "checklists (ticked in the workspace)"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("items", queryset=ChecklistItem.objects.order_by("order")))
        )

    @admin.display(description="items")
    def items_state(self, obj: Checklist) -> str:
        return format_html_join(
            "",
            "<div>{} {}{}</div>",
            (
                ("☑" if item.done_at else "☐", item.text, " (required)" if item.required else "")
                for item in obj.items.all()
            ),
        )


class HandoffInline(ReadOnlyInline, admin.TabularInline):
    model = HandoffPacket
    fk_name = "incident"
    fields = ("offered_at", "from_user", "to_user", "to_team", "to_stage", "status", "accept_due_at", "is_ping_pong")
    readonly_fields = fields
    ordering = ("-offered_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("from_user", "to_user", "to_team")


class ClockPauseInline(ReadOnlyInline, admin.TabularInline):
    model = ClockPause
    fields = ("reason", "note", "started_at", "started_by", "ended_at", "ended_by")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("started_by", "ended_by")


@admin.register(Incident)
class IncidentAdmin(ReadableHistoryMixin, CaseScopedAdminMixin, ServiceFormAdminMixin, LargeTableAdmin):
    case_field = ""
    list_display = (
        "reference",
        "title",
        "customer",
        "severity",
        "status",
        "stage",
        "stage_dri",
        "next_deadline_at",
        "breached",
        "is_drill",
    )
    list_display_links = ("reference", "title")
    list_filter = ("status", "severity", "stage", "is_drill", "sentiment", "channel", "team")
    search_fields = ("title", "external_id", "customer__name")
    list_select_related = ("customer", "stage_dri")
    autocomplete_fields = ("customer", "channel", "team", "commander", "stage_dri")
    ordering = ("-id",)
    # Reverting a case from history would bypass every service rule.
    allow_revert = False

    add_fieldsets = (
        (None, {"fields": ("title", "description", "customer", "channel", "team", "category", "external_id")}),
        ("When", {"fields": ("reported_at",)}),
        (
            "Impact facts (the trigger rules set the severity from these)",
            {
                "fields": ("arr_at_risk", "users_affected_pct", "data_risk", "legal_risk", "security_risk"),
            },
        ),
        ("Severity", {"fields": ("severity", "severity_reason")}),
        ("Ownership", {"fields": ("commander", "stage_dri", "bridge_url", "is_drill")}),
    )
    change_fieldsets = (
        (
            None,
            {
                "fields": (
                    "expected_version",
                    "title",
                    "description",
                    "customer",
                    "channel",
                    "team",
                    "category",
                    "external_id",
                    "reported_at",
                    "created_by",
                    "is_drill",
                )
            },
        ),
        ("Impact facts", {"fields": ("arr_at_risk", "users_affected_pct", "data_risk", "legal_risk", "security_risk")}),
        (
            "Severity",
            {
                "fields": (
                    "severity",
                    "policy",
                    "severity_source",
                    "severity_reason",
                    "trigger_severity",
                    "trigger_explanation",
                )
            },
        ),
        (
            "Workflow (moves through the workspace)",
            {
                "fields": (
                    "status",
                    "stage",
                    "commander",
                    "stage_dri",
                    "bridge_url",
                    "sentiment",
                    "acknowledged_at",
                    "acknowledged_by",
                    "resolved_at",
                    "closed_at",
                    "resolution",
                    "reopen_count",
                    "version",
                ),
            },
        ),
        ("Clocks now", {"fields": ("ack_clock", "resolve_clock", "update_clock")}),
        (
            "Stored deadlines",
            {
                "classes": ("collapse",),
                "fields": (
                    "clock_started_at",
                    "resolve_cycle",
                    "cycle_started_at",
                    "paused_since",
                    "pause_reason",
                    "paused_seconds",
                    "ack_target_seconds",
                    "resolve_target_seconds",
                    "update_cadence_seconds",
                    "warning_pct",
                    "ack_due_at",
                    "resolve_due_at",
                    "next_update_due_at",
                    "next_check_at",
                    "next_deadline_at",
                    "queue_rank",
                    "escalation_level",
                    "next_escalation_at",
                    "update_seq",
                ),
            },
        ),
    )
    inlines = (ChecklistInline, HandoffInline, ClockPauseInline)

    # --- forms: add through incident_create, change through incident_update

    def get_fieldsets(self, request: HttpRequest, obj: Incident | None = None):
        return self.add_fieldsets if obj is None else self.change_fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Incident | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        shown = [f for fieldset in self.change_fieldsets for f in fieldset[1]["fields"]]
        return tuple(f for f in shown if f not in EDITABLE_FIELDS and f != "expected_version")

    def get_form(self, request: HttpRequest, obj: Incident | None = None, change: bool = False, **kwargs: Any):
        kwargs["form"] = IncidentChangeForm if obj is not None else IncidentAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Incident | None = None):
        return self.inlines if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Incident | None = None) -> bool:
        # Cases are never deleted: breaches, events and metrics refer to them.
        return False

    def save_model(self, request: HttpRequest, obj: Incident, form: forms.ModelForm, change: bool) -> None:
        now = timezone.now()
        if not change:
            values = {field: form.cleaned_data.get(field) for field in CREATE_FIELDS}
            values["severity"] = values["severity"] or None
            values["severity_reason"] = values["severity_reason"] or ""
            for text_field in ("description", "category", "external_id", "bridge_url"):
                values[text_field] = values[text_field] or ""
            created = incident_create(actor=request.user, now=now, **values)
            # The admin goes on with ``obj`` (log entry, redirect): make it the saved case.
            obj.pk = created.pk
            obj._state.adding = False
            obj.refresh_from_db()
            return
        changes = {field: form.cleaned_data[field] for field in form.changed_data if field in EDITABLE_FIELDS}
        if changes:
            incident_update(
                incident=obj.pk,
                actor=request.user,
                now=now,
                expected_version=form.cleaned_data.get("expected_version"),
                **changes,
            )
        obj.refresh_from_db()

    # --- list

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        pk = pk_from_reference(search_term)
        if pk is not None:
            results = results | queryset.filter(pk=pk)
        return results, may_have_duplicates

    @admin.display(description="reference", ordering="id")
    def reference(self, obj: Incident) -> str:
        return obj.reference

    @admin.display(description="breached", boolean=True)
    def breached(self, obj: Incident) -> bool:
        return obj.is_breached

    # --- computed clocks (the services' clock functions, at the time the page is shown)

    def _clocks(self, obj: Incident) -> Clocks:
        cached = getattr(obj, "_admin_clocks", None)
        if cached is None:
            cached = obj._admin_clocks = incident_clocks(obj, now=timezone.now())
        return cached

    @admin.display(description="acknowledge (TTA)")
    def ack_clock(self, obj: Incident) -> str:
        return clock_text(self._clocks(obj).ack)

    @admin.display(description="resolve (TTR)")
    def resolve_clock(self, obj: Incident) -> str:
        return clock_text(self._clocks(obj).resolve)

    @admin.display(description="customer update")
    def update_clock(self, obj: Incident) -> str:
        return clock_text(self._clocks(obj).update)
