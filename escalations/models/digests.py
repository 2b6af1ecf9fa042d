"""The weekly digest emailed to Managers: when it goes out, and to whom it went."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q

from escalations.models.history import AuditHistory


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class DigestSchedule(models.Model):
    """The one schedule of the weekly digest, edited in the admin. The time is each
    recipient's own (their profile's zone): Monday 08:00 reaches London and Singapore
    at their Monday 08:00."""

    enabled = models.BooleanField(default=True)
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, default=Weekday.MONDAY)
    hour = models.PositiveSmallIntegerField(
        default=8, validators=[MaxValueValidator(23)], help_text="0–23, in each recipient's time zone."
    )
    minute = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(59)])
    include_duty_managers = models.BooleanField(
        "also to Duty Managers", default=False, help_text="Managers always receive it."
    )
    history = AuditHistory()

    class Meta:
        verbose_name = "weekly digest schedule"
        constraints = [
            # A single row: the schedule is a setting, not a list.
            models.CheckConstraint(condition=Q(id=1), name="digest_schedule_single_row"),
            models.CheckConstraint(condition=Q(hour__lte=23), name="digest_schedule_hour_range"),
            models.CheckConstraint(condition=Q(minute__lte=59), name="digest_schedule_minute_range"),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="digest_schedule_weekday_range"),
        ]

    def __str__(self) -> str:
        if not self.enabled:
            return "Weekly digest: off"
        return f"Weekly digest: {self.get_weekday_display()} {self.hour:02d}:{self.minute:02d} (recipient's zone)"


class DigestDelivery(models.Model):
    """A digest sent: one per person per week (the week of their local calendar in
    which it was due). Inserted in the transaction that sends the email, so a second
    worker racing for the same person waits on this row and then finds it taken."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    week = models.CharField(max_length=8, help_text="The ISO week it was due in, e.g. 2026-W48.")
    reported_week = models.CharField(max_length=8, help_text="The week whose figures it carried.")
    sent_at = models.DateTimeField()
    history = AuditHistory()

    class Meta:
        ordering = ["-sent_at"]
        verbose_name_plural = "digest deliveries"
        constraints = [models.UniqueConstraint(fields=["user", "week"], name="digest_once_per_week")]

    def __str__(self) -> str:
        return f"Digest {self.week} to {self.user}"
