"""The API's serializers for reference data and the rest: breaches, severity policies,
tokens and the weekly figures' query."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from escalations.api.serializers import StrictInputSerializer, text
from escalations.models import (
    Breach,
    BusinessCalendar,
    SeverityPolicy,
)
from escalations.sla.weeks import week_parse


class BreachOut(serializers.ModelSerializer):
    """``cause``: the confirmed cause's code, "unknown" until reviewed (the keys of the
    weekly metrics' ``by_cause``). Causes are confirmed in the review queue, not here."""

    cause = serializers.CharField(source="cause_code", read_only=True)
    cause_suggested = serializers.CharField(source="cause_suggested_id", read_only=True, allow_null=True)

    class Meta:
        model = Breach
        fields = [
            "id",
            "incident",
            "kind",
            "cycle",
            "handoff",
            "severity",
            "due_at",
            "detected_at",
            "cause",
            "cause_note",
            "cause_suggested",
            "cause_confirmed_at",
            "cause_confirmed_by",
        ]
        read_only_fields = fields


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


class PolicyOut(serializers.ModelSerializer):
    """Durations as whole seconds, like the targets snapshotted on a case."""

    ack_target_seconds = serializers.SerializerMethodField()
    resolve_target_seconds = serializers.SerializerMethodField()
    update_cadence_seconds = serializers.SerializerMethodField()
    handoff_accept_within_seconds = serializers.SerializerMethodField()

    class Meta:
        model = SeverityPolicy
        fields = [
            "key",
            "rank",
            "name",
            "description",
            "ack_target_seconds",
            "resolve_target_seconds",
            "update_cadence_seconds",
            "handoff_accept_within_seconds",
            "warning_pct",
            "calendar",
            "pages_on_intake",
            "requires_commander",
            "requires_bridge",
            "requires_rca",
            "rca_due_business_days",
            "allows_executive_escalation",
            "review_by",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.INT)
    def get_ack_target_seconds(self, policy: SeverityPolicy) -> int | None:
        return _seconds(policy.ack_target)

    @extend_schema_field(OpenApiTypes.INT)
    def get_resolve_target_seconds(self, policy: SeverityPolicy) -> int | None:
        return _seconds(policy.resolve_target)

    @extend_schema_field(OpenApiTypes.INT)
    def get_update_cadence_seconds(self, policy: SeverityPolicy) -> int | None:
        return _seconds(policy.update_cadence)

    @extend_schema_field(OpenApiTypes.INT)
    def get_handoff_accept_within_seconds(self, policy: SeverityPolicy) -> int | None:
        return _seconds(policy.handoff_accept_within)


# A year: longer than any real SLA target, short enough to keep clock walks cheap.
MAX_TARGET_SECONDS = 366 * 24 * 3600


def seconds_field() -> serializers.IntegerField:
    return serializers.IntegerField(required=False, min_value=1, max_value=MAX_TARGET_SECONDS)


class PolicyPatchIn(StrictInputSerializer):
    name = serializers.CharField(max_length=100, required=False)
    description = text(max_length=5000)
    ack_target_seconds = seconds_field()
    resolve_target_seconds = seconds_field()
    update_cadence_seconds = seconds_field()
    handoff_accept_within_seconds = seconds_field()
    warning_pct = serializers.IntegerField(required=False, min_value=1, max_value=100)
    calendar = serializers.PrimaryKeyRelatedField(queryset=BusinessCalendar.objects.all(), required=False)
    pages_on_intake = serializers.BooleanField(required=False)
    requires_commander = serializers.BooleanField(required=False)
    requires_bridge = serializers.BooleanField(required=False)
    requires_rca = serializers.BooleanField(required=False)
    rca_due_business_days = serializers.IntegerField(required=False, min_value=0, max_value=60)
    allows_executive_escalation = serializers.BooleanField(required=False)
    review_by = serializers.DateField(required=False, allow_null=True)

    DURATIONS = {
        "ack_target_seconds": "ack_target",
        "resolve_target_seconds": "resolve_target",
        "update_cadence_seconds": "update_cadence",
        "handoff_accept_within_seconds": "handoff_accept_within",
    }

    def model_changes(self) -> dict[str, Any]:
        """Validated input → model field values for the service."""
        out: dict[str, Any] = {}
        for key, value in self.validated_data.items():
            if key in self.DURATIONS:
                out[self.DURATIONS[key]] = timedelta(seconds=value)
            else:
                out[key] = value
        return out


class TokenIn(StrictInputSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False, style={"input_type": "password"})


class TokenOut(serializers.Serializer):
    token = serializers.CharField(
        help_text="Send as `Authorization: Token <token>`. Shown once: only its digest is stored."
    )
    expiry = serializers.DateTimeField(help_text="When the token stops working.")


class WeekQuery(serializers.Serializer):
    week = serializers.RegexField(
        r"^\d{4}-W\d{2}$",
        max_length=8,
        help_text="ISO week, e.g. 2026-W47.",
        error_messages={"invalid": "Use an ISO week such as 2026-W47."},
    )

    def validate_week(self, value: str) -> str:
        try:
            week_parse(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from None
        return value
