"""Engine bookkeeping, read-only: the sweep's heartbeats and the workspace's one-time
form tokens."""

from __future__ import annotations

from django.contrib import admin

from escalations.admin.base import LargeTableAdmin, ReadOnlyAdminMixin
from escalations.models import FormSubmission, ReviewWeek, SweepHeartbeat


@admin.register(SweepHeartbeat)
class SweepHeartbeatAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    """One row per breach sweep: when it ran, what it found, how long it took and how
    many rows failed. This list is how an administrator sees that the sweep is alive."""

    list_display = ("finished_at", "source", "examined", "warnings", "breaches", "escalations", "errors", "duration")
    list_filter = ("source",)
    search_fields = ("source",)
    ordering = ("-finished_at",)

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: SweepHeartbeat) -> str:
        return f"{obj.duration_ms} ms"


@admin.register(FormSubmission)
class FormSubmissionAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    """Workspace forms already sent, by one-time token, and where each led: a repeated
    POST of the same form is sent there instead of doing the work twice."""

    list_display = ("created_at", "user", "result_url")
    search_fields = ("user__username", "result_url")
    ordering = ("-created_at",)


@admin.register(ReviewWeek)
class ReviewWeekAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    """The kept weeks of the weekly figures. Deleting one (after a correction to a past
    week's cases) makes the beat compute it again: on its next run for the last 13
    weeks, for an older week when a page or the API next asks for it."""

    list_display = ("week_start", "version", "computed_at")
    ordering = ("-week_start",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("escalations.delete_reviewweek")
