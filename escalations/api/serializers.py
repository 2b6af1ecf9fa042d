"""Input and output serializers, one pair per action. Inputs validate *shape* (types,
lengths, choices, that referenced rows exist); the services decide every rule. Outputs
are read-only views of rows.

Every input serializer rejects keys it does not know (400 naming them): a typo such as
``"severty"`` must not be silently dropped, and a read-only field such as ``status``
must not look as if it had been written.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from escalations.choices import PauseReason, SeverityKey, Stage
from escalations.models import (
    PACKET_FIELDS,
    CaseEvent,
    Channel,
    ChecklistItem,
    Customer,
    CustomerUpdate,
    HandoffPacket,
    Incident,
    Team,
)
from escalations.security.access import case_workers, not_a_case_worker
from escalations.selectors.clocks import clock_seconds
from escalations.services.case_edits import STAGE_REASON_MAX
from escalations.services.severity import IMPACT_FIELDS

# How far back a case may be reported. Not a playbook rule but a sanity bound: clocks are
# computed over the whole span, and a typo'd year (0026) would make every read of the
# case walk two thousand years of business days.
MAX_REPORTED_AGE = timedelta(days=366)
# Upper bound on free-text inputs: far beyond any real packet, short of abuse.
MAX_TEXT = 20_000


class StrictInputSerializer(serializers.Serializer):
    """Refuses unknown keys, naming each."""

    def get_fields(self) -> dict[str, serializers.Field]:
        # DRF deep-copies the declared fields for every serializer instance, which runs
        # each field's __init__ again. These inputs are flat: a shallow copy per field
        # is its own object to bind, sharing only what fields never change (choices,
        # validators, the querysets they clone before use).
        declared = self._declared_fields
        if any(isinstance(field, serializers.BaseSerializer) or hasattr(field, "child") for field in declared.values()):
            return super().get_fields()
        return {name: copy.copy(field) for name, field in declared.items()}

    def to_internal_value(self, data: Any) -> dict:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: [f"Unknown field; accepted: {', '.join(sorted(self.fields))}."] for key in unknown},
                    code="unknown_field",
                )
        return super().to_internal_value(data)


class VersionedInput(StrictInputSerializer):
    """``version``: the case version the caller last read. Optional; when given (here or
    as an ``If-Match`` header) a stale one is refused with 412 and nothing changes."""

    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


def text(*, required: bool = False, max_length: int = MAX_TEXT, allow_blank: bool = True) -> serializers.CharField:
    return serializers.CharField(
        required=required, max_length=max_length, allow_blank=allow_blank, trim_whitespace=False
    )


@extend_schema_field(OpenApiTypes.INT)
class CaseWorkerField(serializers.PrimaryKeyRelatedField):
    """A person who may own or be offered a case (``access.case_workers``). Anyone else —
    an unknown id, an integration, a Policy Admin, an inactive account — gets one and the
    same answer, so the field does not reveal which accounts exist."""

    def get_queryset(self):
        return case_workers()

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            raise serializers.ValidationError(not_a_case_worker(data), code="does_not_exist") from None


def user_field(**kwargs: Any) -> serializers.PrimaryKeyRelatedField:
    """An owner or a handoff's receiver."""
    return CaseWorkerField(**kwargs)


# --- Cases -----------------------------------------------------------------------------


class IncidentOut(serializers.ModelSerializer):
    """A case. ``tta_seconds``/``ttr_seconds`` are counted clock time so far (pauses and
    off-hours excluded; ``ttr_seconds`` for the current resolve cycle). ``now`` comes from
    the serializer context so one response uses one instant."""

    reference = serializers.CharField(read_only=True)
    channel = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    # Blank when unset: declared here so the schema allows "" (an enum or a URI would not).
    pause_reason = serializers.ChoiceField(choices=[("", "Not paused"), *PauseReason.choices], read_only=True)
    bridge_url = serializers.CharField(read_only=True)
    trigger_severity = serializers.ChoiceField(choices=[("", "No trigger"), *SeverityKey.choices], read_only=True)
    paused = serializers.SerializerMethodField()
    breached = serializers.SerializerMethodField(
        help_text="Breached now: a clock of the open case's current cycle is past its promise and the promise is "
        "still unkept. An acknowledge breach counts until the case is acknowledged, a resolve breach until it is "
        "resolved, an update breach until the next customer update; a resolved or closed case is never breached, "
        "and a paused one stays so. The same answer as the `breached` filter and the work queues' breached band. "
        "Whether the case ever breached is its breaches' record (`/breaches/`), not this field."
    )
    tta_seconds = serializers.SerializerMethodField()
    ttr_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "title",
            "description",
            "customer",
            "channel",
            "team",
            "category",
            "external_id",
            "reported_at",
            "created_at",
            "updated_at",
            "arr_at_risk",
            "users_affected_pct",
            "data_risk",
            "legal_risk",
            "security_risk",
            "severity",
            "severity_source",
            "severity_reason",
            "trigger_severity",
            "trigger_explanation",
            "status",
            "stage",
            "commander",
            "stage_dri",
            "bridge_url",
            "sentiment",
            "resolution",
            "ack_due_at",
            "resolve_due_at",
            "next_update_due_at",
            "acknowledged_at",
            "resolved_at",
            "closed_at",
            "paused",
            "pause_reason",
            "breached",
            "tta_seconds",
            "ttr_seconds",
            "resolve_cycle",
            "escalation_level",
            "reopen_count",
            "is_drill",
            "version",
        ]
        read_only_fields = fields

    def _clock(self, incident: Incident) -> tuple[int, int]:
        # Memoised per row: both fields come from one pass over the calendar.
        cache = self.context.setdefault("_clock_cache", {})
        if incident.pk not in cache:
            cache[incident.pk] = clock_seconds(incident, self.context["now"])
        return cache[incident.pk]

    def get_paused(self, incident: Incident) -> bool:
        return incident.paused_since is not None

    def get_breached(self, incident: Incident) -> bool:
        return incident.is_breached

    def get_tta_seconds(self, incident: Incident) -> int:
        return self._clock(incident)[0]

    def get_ttr_seconds(self, incident: Incident) -> int:
        return self._clock(incident)[1]


class IncidentFactsInput(VersionedInput):
    """Fields shared by create and PATCH (everything incident_update may edit)."""

    title = serializers.CharField(max_length=200)
    description = text()
    category = serializers.CharField(max_length=50, required=False, allow_blank=True)
    channel = serializers.SlugRelatedField(slug_field="slug", queryset=Channel.objects.all())
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)
    commander = user_field(required=False, allow_null=True)
    stage_dri = user_field(required=False, allow_null=True)
    bridge_url = serializers.URLField(max_length=200, required=False, allow_blank=True)
    arr_at_risk = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, max_value=10**12 - 1, required=False
    )
    users_affected_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False
    )
    data_risk = serializers.BooleanField(required=False)
    legal_risk = serializers.BooleanField(required=False)
    security_risk = serializers.BooleanField(required=False)
    severity = serializers.ChoiceField(choices=SeverityKey.choices, required=False, allow_null=True)
    severity_reason = text(max_length=2000)


class IncidentCreateIn(IncidentFactsInput):
    """Open a case. Severity comes from the trigger rules unless given (raising it needs
    ``severity_reason``; going below the triggers needs a Manager)."""

    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all())
    reported_at = serializers.DateTimeField(required=False, help_text="Defaults to now; never in the future.")
    is_drill = serializers.BooleanField(required=False, default=False)

    def validate_reported_at(self, value: datetime) -> datetime:
        now = self.context["now"]
        if value < now - MAX_REPORTED_AGE:
            raise serializers.ValidationError("Reported more than a year ago: check the date.")
        return value

    def to_internal_value(self, data: Any) -> dict:
        # version means nothing for a case that does not exist yet.
        if isinstance(data, dict) and "version" in data:
            raise serializers.ValidationError({"version": ["Not accepted when opening a case."]}, code="unknown_field")
        return super().to_internal_value(data)


class IntakeIn(IncidentCreateIn):
    """An integration's signal: a case, plus the integration's own id for it. The same
    ``external_id`` on the same channel twice from the same integration returns the case
    it opened; the id means nothing to any other integration."""

    external_id = serializers.CharField(max_length=200, help_text="The id of the case in the integration.")

    def validate_external_id(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("This field may not be blank.", code="blank")
        return value


class IntakeOut(serializers.Serializer):
    """What an integration gets back: enough to link to the case, none of its contents."""

    id = serializers.IntegerField()
    reference = serializers.CharField()
    status = serializers.CharField()
    url = serializers.URLField(help_text="The case page in the web app.")


class IncidentPatchIn(IncidentFactsInput):
    """Edit a case. Details, impact facts and owners go through incident_update;
    ``severity`` (with ``severity_reason``) through incident_change_severity; ``stage``
    (with ``stage_reason``, needed to move back) through incident_set_stage. All or
    nothing: one transaction."""

    stage = serializers.ChoiceField(choices=Stage.choices, required=False)
    stage_reason = serializers.CharField(
        required=False,
        max_length=STAGE_REASON_MAX,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Why the case moves back to an earlier stage (needed then; on the timeline).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("partial", True)
        super().__init__(*args, **kwargs)

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        reasoned = attrs.get("severity") is not None or set(attrs) & set(IMPACT_FIELDS)
        if attrs.get("severity_reason") is not None and not reasoned:
            raise serializers.ValidationError(
                {"severity_reason": ["Give it with severity, or with impact facts that lower the floor."]}
            )
        if attrs.get("stage_reason") is not None and attrs.get("stage") is None:
            raise serializers.ValidationError({"stage_reason": ["Give it with stage."]})
        return attrs


class AckIn(VersionedInput):
    pass


class PauseIn(VersionedInput):
    reason = serializers.ChoiceField(choices=PauseReason.choices)
    note = text(required=True, max_length=2000)


class ResumeIn(VersionedInput):
    pass


class ResolveIn(VersionedInput):
    resolution = text(required=True)


class ReopenIn(VersionedInput):
    reason = text(required=True, max_length=2000)


class CloseIn(VersionedInput):
    pass


class SeverityIn(VersionedInput):
    severity = serializers.ChoiceField(choices=SeverityKey.choices)
    reason = text(required=True, max_length=2000)


# --- Customer updates, timeline, checklist ----------------------------------------------


class CustomerUpdateIn(VersionedInput):
    body = text(required=True)
    channel = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Channel.objects.all(),
        required=False,
        allow_null=True,
        help_text="Defaults to the case's channel.",
    )


class CustomerUpdateOut(serializers.ModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = CustomerUpdate
        fields = ["id", "incident", "body", "channel", "posted_at", "posted_by", "was_late"]
        read_only_fields = fields


class CaseEventOut(serializers.ModelSerializer):
    actor_username = serializers.CharField(source="actor.username", read_only=True)

    class Meta:
        model = CaseEvent
        fields = ["id", "at", "kind", "actor", "actor_username", "detail", "old", "new"]
        read_only_fields = fields


class ChecklistItemOut(serializers.ModelSerializer):
    checklist = serializers.CharField(source="checklist.title", read_only=True)
    checklist_id = serializers.IntegerField(read_only=True)
    stage = serializers.CharField(source="checklist.stage", read_only=True)
    done = serializers.BooleanField(source="is_done", read_only=True)
    fact = serializers.CharField(
        read_only=True, help_text="Blank: ticked by people. Else the fact that ticks it (never by hand)."
    )

    class Meta:
        model = ChecklistItem
        fields = [
            "id", "checklist_id", "checklist", "stage", "order", "text", "required", "fact", "done", "done_at",
            "done_by",
        ]  # fmt: skip
        read_only_fields = fields


class ChecklistCompleteIn(VersionedInput):
    done = serializers.BooleanField(required=False, default=True, help_text="false re-opens the item.")


# --- Handoffs --------------------------------------------------------------------------


class HandoffOfferIn(VersionedInput):
    to_user = user_field(required=False, allow_null=True)
    to_team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)
    to_stage = serializers.ChoiceField(choices=Stage.choices)
    summary = text(required=True)
    customer_impact = text(required=True)
    actions_taken = text()
    hypothesis = text()
    next_steps = text(required=True)
    open_questions = text()
    links = text()
    acceptance_criteria = text()
    ping_pong_reason = text(max_length=2000)


class HandoffRejectIn(VersionedInput):
    reason = text(required=True, max_length=2000)


class HandoffAcceptIn(VersionedInput):
    pass


class HandoffOut(serializers.ModelSerializer):
    incident_version = serializers.IntegerField(source="incident.version", read_only=True)

    class Meta:
        model = HandoffPacket
        fields = [
            "id",
            "incident",
            "incident_version",
            "status",
            "from_user",
            "from_team",
            "from_stage",
            "to_user",
            "to_team",
            "to_stage",
            *PACKET_FIELDS,
            "checklist_state",
            "offered_at",
            "accept_due_at",
            "responded_at",
            "responded_by",
            "rejection_reason",
            "is_ping_pong",
            "ping_pong_reason",
        ]
        read_only_fields = fields
