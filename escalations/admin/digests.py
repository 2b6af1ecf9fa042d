"""The weekly digest's schedule (one row, edited here, audited like every admin change),
who received which week's digest, and the overdue-RCA reminders sent: the last two
read-only, written by the beat tasks."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from escalations.admin.base import BaseAdmin, CaseScopedAdminMixin, LargeTableAdmin, ReadOnlyAdminMixin
from escalations.models import DigestDelivery, DigestSchedule, RcaReminder


@admin.register(DigestSchedule)
class DigestScheduleAdmin(BaseAdmin):
    """When the weekly digest goes out, in each recipient's own time zone (their profile's).
    The beat checks every quarter hour and sends each person one digest a week."""

    list_display = ("__str__", "enabled", "weekday", "hour", "minute", "include_duty_managers")
    fields = ("enabled", "weekday", "hour", "minute", "include_duty_managers")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One schedule: once it exists it is edited, never added again.
        return super().has_add_permission(request) and not DigestSchedule.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: DigestSchedule, form: Any, change: bool) -> None:
        obj.pk = 1
        super().save_model(request, obj, form, change)


@admin.register(DigestDelivery)
class DigestDeliveryAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    list_display = ("sent_at", "user", "week", "reported_week")
    search_fields = ("user__username", "week")
    list_select_related = ("user",)
    ordering = ("-sent_at",)


@admin.register(RcaReminder)
class RcaReminderAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, LargeTableAdmin):
    case_field = "postmortem__incident"
    list_display = ("sent_at", "postmortem", "action_item", "stage", "due_at")
    list_filter = ("stage",)
    list_select_related = ("postmortem__incident", "action_item")
    ordering = ("-sent_at",)
