"""Who and where: customers, teams, shifts, intake channels, staff profiles, calendars."""

from __future__ import annotations

import base64
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from escalations.choices import FIRST_WORK_QUEUE, Tier
from escalations.lib.addresses import WebhookAddressRefused, webhook_address_check
from escalations.lib.text import MAX_LONG_TEXT
from escalations.models.history import AuditHistory


class Customer(models.Model):
    name = models.CharField(max_length=200, unique=True)
    arr = models.DecimalField("ARR (USD)", max_digits=14, decimal_places=2, default=0)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.STANDARD)
    monthly_fee = models.DecimalField(
        "monthly fee (USD)",
        max_digits=12,
        decimal_places=2,
        default=0,
        help_text="What the customer pays a month; service credits are a share of it.",
    )
    contacts = models.TextField(
        blank=True, help_text="One contact per line: name, email, phone.", max_length=MAX_LONG_TEXT
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = AuditHistory()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(arr__gte=0), name="customer_arr_not_negative"),
            models.CheckConstraint(condition=Q(monthly_fee__gte=0), name="customer_monthly_fee_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


def webhook_secret_new() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")
    email = models.EmailField(blank=True, help_text="Team mailbox notified on escalations.")
    webhook_url = models.URLField(
        blank=True,
        help_text="Chat webhook (Slack-compatible JSON) for escalations. Its host must resolve to a public "
        "address, unless it is listed in WEBHOOK_ALLOWED_HOSTS.",
    )
    # Signs this team's webhook deliveries; only the receiver holds it besides us. Changed
    # by ``team_webhook_secret_rotate``, never edited by hand.
    webhook_secret = models.CharField(max_length=100, default=webhook_secret_new, editable=False)
    open_read_access = models.BooleanField(
        "open to all staff (read only)",
        default=False,
        help_text="Every member of staff may read this team's cases; changing them still needs access.",
    )
    # The secret stays out of the history tables, which every admin can browse; a rotation
    # still writes a history row naming who rotated.
    history = AuditHistory(m2m_fields=[members], excluded_fields=["webhook_secret"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.webhook_url:
            try:
                webhook_address_check(self.webhook_url)
            except WebhookAddressRefused as exc:
                raise ValidationError({"webhook_url": str(exc)}) from None


class ShiftRole(models.TextChoices):
    DUTY_MANAGER = "duty_manager", "Support Duty Manager"
    ON_DUTY = "on_duty", "On duty"
    COMMANDER = "commander", "Incident Commander on call"
    FIX_LEAD = "fix_lead", "Eng Fix Lead on call"
    MANAGER = "manager", "Manager on call"
    EXECUTIVE = "executive", "Executive on call"


class Shift(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="shifts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shifts")
    role = models.CharField(max_length=20, choices=ShiftRole.choices, default=ShiftRole.ON_DUTY)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    history = AuditHistory()

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start")
        ]
        indexes = [
            # "who is on duty as <role> for <team> at <time>" (paging, escalation chain).
            models.Index(fields=["team", "role", "starts_at", "ends_at"], name="shift_on_duty_idx"),
            # "my shift now" (end-of-shift handoff page).
            models.Index(fields=["user", "ends_at"], name="shift_user_end_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} ({self.team}) {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M}"


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    CHAT = "chat", "Chat"
    PORTAL = "portal", "Support portal"
    MONITORING = "monitoring", "Monitoring"
    CRM = "crm", "CRM"
    API = "api", "API"
    OTHER = "other", "Other"


class Channel(models.Model):
    """An intake channel. Clocks start only when a case is logged on an agreed one."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(max_length=20, choices=ChannelKind.choices, default=ChannelKind.OTHER)
    agreed = models.BooleanField(default=True, help_text="An agreed channel starts the SLA clocks on receipt.")
    history = AuditHistory()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BusinessCalendar(models.Model):
    """Working hours in a time zone, with holidays. 24x7 calendars count every second."""

    name = models.CharField(max_length=100, unique=True)
    is_24x7 = models.BooleanField("24x7", default=False)
    timezone = models.CharField(max_length=64, default="UTC")
    workdays = models.CharField(
        max_length=13, default="0,1,2,3,4", help_text="Working weekdays, 0=Monday … 6=Sunday, comma-separated."
    )
    day_start = models.TimeField(default="09:00")
    day_end = models.TimeField(default="17:00")
    history = AuditHistory()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_24x7=True) | Q(day_end__gt=models.F("day_start")), name="calendar_day_end_after_start"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError({"timezone": f"Unknown time zone {self.timezone!r}."}) from None
        if not self.is_24x7:
            try:
                days = self.weekday_numbers()
            except ValueError:
                raise ValidationError({"workdays": "Use weekday numbers 0–6 separated by commas."}) from None
            if not days:
                raise ValidationError({"workdays": "A business-hours calendar needs at least one working day."})

    def weekday_numbers(self) -> tuple[int, ...]:
        days = tuple(sorted({int(p) for p in self.workdays.split(",") if p.strip()}))
        if any(d < 0 or d > 6 for d in days):
            raise ValueError("weekday out of range")
        return days


class Holiday(models.Model):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)
    history = AuditHistory()

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="holiday_unique_per_calendar")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


class StaffProfile(models.Model):
    """Per-person preferences: the zone times are shown in, the work queue opened first."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    timezone = models.CharField(max_length=64, default="UTC")
    queue = models.CharField(
        max_length=20,
        default=FIRST_WORK_QUEUE,
        help_text="The work queue shown first: the last one this person opened.",
    )
    history = AuditHistory()

    def __str__(self) -> str:
        return f"Profile of {self.user}"
