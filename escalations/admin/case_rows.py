"""The admin of the rows the services write for a case (cycles, checklists, pauses,
updates, handoffs, the timeline, breaches, warnings, escalations, the outbox): read-only
and scoped by case; a breach's cause is reviewed through its service. And the RCAs,
documents people write, saved through ``postmortem_save``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from escalations.admin.base import (
    BaseAdmin,
    CaseScopedAdminMixin,
    LargeTableAdmin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    ServiceFormAdminMixin,
)
from escalations.admin.cases import seconds_text
from escalations.models import (
    Breach,
    BreachCauseOption,
    CaseEvent,
    Checklist,
    ChecklistItem,
    ClockPause,
    CustomerUpdate,
    Escalation,
    HandoffPacket,
    Notification,
    Postmortem,
    PostmortemActionItem,
    ResolveCycle,
    SlaWarning,
)
from escalations.services.breach_causes import breach_cause_confirm
from escalations.services.notifications import notifications_retry_failed
from escalations.services.postmortems import postmortem_save


@admin.register(ResolveCycle)
class ResolveCycleAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, BaseAdmin):
    list_display = ("incident", "number", "started_at", "ended_at", "target", "met")
    list_filter = ("met",)
    search_fields = ("incident__title",)
    list_select_related = ("incident",)
    autocomplete_fields = ("incident",)

    @admin.display(description="target")
    def target(self, obj: ResolveCycle) -> str:
        return seconds_text(obj.target_seconds)


class ChecklistItemInline(ReadOnlyInline, admin.TabularInline):
    model = ChecklistItem
    fields = ("order", "text", "required", "done_at", "done_by")
    readonly_fields = fields
    show_change_link = False


@admin.register(Checklist)
class ChecklistAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, BaseAdmin):
    list_display = ("title", "incident", "stage")
    list_filter = ("stage",)
    search_fields = ("title", "incident__title")
    list_select_related = ("incident",)
    autocomplete_fields = ("incident", "template")
    inlines = (ChecklistItemInline,)


@admin.register(ChecklistItem)
class ChecklistItemAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, BaseAdmin):
    case_field = "checklist__incident"
    list_display = ("text", "checklist", "required", "done_at", "done_by")
    list_filter = ("required", "checklist__stage")
    search_fields = ("text", "checklist__title")
    list_select_related = ("checklist", "done_by")
    autocomplete_fields = ("checklist", "done_by")


@admin.register(ClockPause)
class ClockPauseAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, LargeTableAdmin):
    list_display = ("incident", "reason", "started_at", "ended_at", "started_by")
    list_filter = ("reason",)
    search_fields = ("incident__title", "note")
    list_select_related = ("incident", "started_by")
    autocomplete_fields = ("incident", "started_by", "ended_by")


@admin.register(CustomerUpdate)
class CustomerUpdateAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, LargeTableAdmin):
    list_display = ("incident", "posted_at", "posted_by", "channel", "was_late")
    list_filter = ("was_late", "channel")
    search_fields = ("incident__title", "body")
    list_select_related = ("incident", "posted_by", "channel")
    autocomplete_fields = ("incident", "channel", "posted_by")


@admin.register(HandoffPacket)
class HandoffPacketAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, BaseAdmin):
    list_display = ("incident", "from_user", "to_user", "to_team", "to_stage", "status", "offered_at", "is_ping_pong")
    list_filter = ("status", "is_ping_pong", "to_stage")
    search_fields = ("incident__title", "summary", "from_user__username", "to_user__username")
    list_select_related = ("incident", "from_user", "to_user", "to_team")
    autocomplete_fields = ("incident", "from_user", "to_user", "from_team", "to_team", "responded_by")


@admin.register(CaseEvent)
class CaseEventAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, LargeTableAdmin):
    """The append-only business event log: no add, change or delete, ever."""

    list_display = ("at", "incident", "kind", "actor", "detail")
    list_filter = ("kind",)
    search_fields = ("incident__title", "detail")
    list_select_related = ("incident", "actor")
    autocomplete_fields = ("incident", "actor")
    ordering = ("-at", "-id")


class BreachForm(forms.ModelForm):
    """A breach's review: a cause from the list (active ones, plus the one it has even if
    since retired) and a note. Saving confirms it through ``breach_cause_confirm``."""

    class Meta:
        model = Breach
        fields = ("cause", "cause_note")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "cause" not in self.fields:  # a view-only reader: every field is shown read-only
            return
        field = self.fields["cause"]
        field.required = True
        field.to_field_name = "code"
        current = self.instance.cause_id if self.instance.pk else None
        field.queryset = BreachCauseOption.objects.filter(Q(is_active=True) | Q(code=current)).order_by(
            "position", "label"
        )


@admin.register(Breach)
class BreachAdmin(CaseScopedAdminMixin, ServiceFormAdminMixin, LargeTableAdmin):
    """Breaches are recorded by the sweep. Only the review of their cause is editable
    (Duty Managers and Managers do it in the review queue, /manage/breaches/; here it
    goes through the same service); everything else is the record."""

    form = BreachForm
    allow_revert = False
    list_display = ("incident", "kind", "cycle", "severity", "due_at", "detected_at", "cause_suggested", "cause")
    list_filter = ("kind", "severity", "cause", "cause_suggested")
    search_fields = ("incident__title", "cause_note")
    list_select_related = ("incident", "cause", "cause_suggested")
    autocomplete_fields = ("incident", "handoff")
    readonly_fields = (
        "incident",
        "kind",
        "cycle",
        "handoff",
        "severity",
        "due_at",
        "detected_at",
        "cause_suggested",
        "cause_confirmed_at",
        "cause_confirmed_by",
    )
    ordering = ("-detected_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Breach | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Breach, form: forms.ModelForm, change: bool) -> None:
        saved = breach_cause_confirm(
            breach=obj.pk,
            cause=form.cleaned_data["cause"].code,
            note=form.cleaned_data.get("cause_note") or "",
            actor=request.user,
            now=timezone.now(),
        )
        obj.cause_confirmed_at, obj.cause_confirmed_by = saved.cause_confirmed_at, saved.cause_confirmed_by


@admin.register(SlaWarning)
class SlaWarningAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, LargeTableAdmin):
    list_display = ("incident", "kind", "cycle", "warn_at", "due_at", "detected_at")
    list_filter = ("kind",)
    search_fields = ("incident__title",)
    list_select_related = ("incident",)
    autocomplete_fields = ("incident",)
    ordering = ("-detected_at",)


@admin.register(Escalation)
class EscalationAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, LargeTableAdmin):
    list_display = ("incident", "level", "reason", "is_executive", "created_at", "actor", "acknowledged_at")
    list_filter = ("level", "is_executive")
    search_fields = ("incident__title", "reason")
    list_select_related = ("incident", "actor")
    autocomplete_fields = ("incident", "breach", "step", "actor", "acknowledged_by")
    ordering = ("-created_at",)


@admin.register(Notification)
class NotificationAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, LargeTableAdmin):
    """The outbox, scoped by case like every case-bound row: subjects and payloads name
    the case. Failed rows are found with the status filter; "Retry now" puts the selected
    failed ones back in the outbox (notifications_retry_failed) for whoever may change
    notifications: Duty Managers and Managers (who see every case), and Policy Admins for
    the cases they may see."""

    actions = ["retry_now"]
    list_display = ("created_at", "channel", "recipient", "address", "subject", "status", "attempts", "next_attempt_at")
    list_filter = ("status", "channel")
    search_fields = ("subject", "address", "recipient__username", "idempotency_key")
    list_select_related = ("recipient",)
    autocomplete_fields = ("incident", "escalation", "recipient")
    ordering = ("-created_at",)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("escalations.change_notification")

    @admin.action(description="Retry the selected failed notifications now", permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        selected = list(queryset.values_list("pk", flat=True))
        requeued = notifications_retry_failed(ids=selected, actor=request.user, now=timezone.now())
        skipped = len(selected) - requeued
        message = f"{requeued} notification(s) back in the outbox, due now."
        if skipped:
            message += f" {skipped} not failed, left as they were."
        self.message_user(request, message, messages.SUCCESS if requeued else messages.WARNING)


class PostmortemActionItemInline(admin.TabularInline):
    model = PostmortemActionItem
    extra = 1
    fields = ("description", "owner", "due_date", "done_at")
    autocomplete_fields = ("owner",)


@admin.register(Postmortem)
class PostmortemAdmin(CaseScopedAdminMixin, BaseAdmin):
    list_display = ("incident", "author", "status", "due_at", "published_at")
    list_filter = ("status",)
    search_fields = ("incident__title", "summary", "root_cause")
    list_select_related = ("incident", "author")
    autocomplete_fields = ("incident", "author")
    inlines = (PostmortemActionItemInline,)

    def save_model(self, request: HttpRequest, obj: Postmortem, form: forms.ModelForm, change: bool) -> None:
        postmortem_save(postmortem=obj, actor=request.user, now=timezone.now())


@admin.register(PostmortemActionItem)
class PostmortemActionItemAdmin(CaseScopedAdminMixin, BaseAdmin):
    case_field = "postmortem__incident"
    list_display = ("description", "postmortem", "owner", "due_date", "done_at")
    search_fields = ("description", "postmortem__incident__title")
    list_select_related = ("postmortem__incident", "owner")
    autocomplete_fields = ("postmortem", "owner")
