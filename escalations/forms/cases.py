"""Forms of the CS workspace. They convert and type-check input only; the playbook rules
(reasons required, open checklist items, downgrade rights, ping-pong) live in the
services, whose errors the views put back on the named field."""

from __future__ import annotations

import html
import zoneinfo
from functools import lru_cache

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.forms.utils import flatatt
from django.utils.safestring import SafeString, mark_safe

from escalations.choices import PauseReason, Sentiment, SeverityKey, Stage, stage_move_allowed
from escalations.display import person_name
from escalations.errors import ServiceError
from escalations.lib.text import MAX_LONG_TEXT
from escalations.models import PACKET_FIELDS, Channel, Customer, Incident, Team
from escalations.security.access import case_workers
from escalations.services.case_edits import STAGE_REASON_MAX

User = get_user_model()


def workers() -> QuerySet:
    """Active people who may work cases (the only ones who may own or receive one)."""
    return case_workers()


class FastSelect(forms.Select):
    """A <select> rendered in Python. Django renders every <option> through a template,
    which made selects with a few hundred options (customers, time zones, people) the
    slowest part of the queue and case pages. Flat choices only; every value and label
    is escaped."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        final = self.build_attrs(self.attrs, attrs)
        final["name"] = name
        if self.allow_multiple_selected:
            final["multiple"] = True
        selected = {str(v) for v in self.format_value(value)}
        options = []
        for option_value, label in self.choices:
            v = "" if option_value is None else str(option_value)
            mark = " selected" if v in selected else ""
            options.append(f'<option value="{html.escape(v)}"{mark}>{html.escape(str(label))}</option>')
        return mark_safe(f"<select{flatatt(final)}>{''.join(options)}</select>")  # noqa: S308 - escaped above


class FastSelectMultiple(FastSelect):
    allow_multiple_selected = True

    def value_from_datadict(self, data, files, name):
        return forms.SelectMultiple().value_from_datadict(data, files, name)

    def value_omitted_from_data(self, data, files, name) -> bool:
        return False


def fast_select(field: forms.Field, *, multiple: bool = False) -> None:
    """Swap a bound form field's widget for the fast one, keeping its choices and attrs."""
    widget = (FastSelectMultiple if multiple else FastSelect)(attrs=field.widget.attrs)
    widget.choices = field.choices
    widget.is_required = field.widget.is_required
    field.widget = widget


class PersonChoiceField(forms.ModelChoiceField):
    widget = FastSelect

    def label_from_instance(self, obj) -> str:
        full = obj.get_full_name()
        return f"{full} ({obj.username})" if full else obj.username


def limit_stages(form: forms.Form, field: str, current: str) -> None:
    """Offer only the stages a case in ``current`` may move to (the next one, the current
    one, or an earlier one: choices.stage_move_allowed)."""
    form.fields[field].choices = [(v, label) for v, label in Stage.choices if stage_move_allowed(current, v)]


def put_service_error(form: forms.Form, exc: ServiceError) -> None:
    """Attach a service's refusal to the field it names, or to the whole form when the
    field is not one of this form's (a rule about the case, e.g. open checklist items)."""
    for error in exc.all_errors():
        field = error.field if error.field in form.fields and error.field != "version" else None
        form.add_error(field, error.message)


class VersionedForm(forms.Form):
    """Every form that changes a case carries the version the page was rendered from, so
    a save over someone else's change is refused instead of overwriting it."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class AcknowledgeForm(forms.Form):
    # No version: acknowledging answers a page and overwrites nothing; a second
    # acknowledgement is refused by the service ("already acknowledged").
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class PauseForm(VersionedForm):
    reason = forms.ChoiceField(choices=PauseReason.choices, label="Waiting on")
    note = forms.CharField(
        required=False,
        label="Reason (visible to everyone)",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
    )


class ResumeForm(VersionedForm):
    pass


class LogChannelForm(VersionedForm):
    """Log a case that came in elsewhere on an agreed channel: its clocks start."""

    channel = forms.ModelChoiceField(
        queryset=Channel.objects.filter(agreed=True), label="Logged on", empty_label=None, widget=FastSelect
    )


class ResolveForm(VersionedForm):
    resolution = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=10000)


class ReopenForm(VersionedForm):
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class CloseForm(VersionedForm):
    pass


class SeverityForm(VersionedForm):
    severity = forms.ChoiceField(choices=SeverityKey.choices)
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class StageForm(VersionedForm):
    stage = forms.ChoiceField(choices=Stage.choices)
    reason = forms.CharField(
        required=False,
        max_length=STAGE_REASON_MAX,
        label="Reason for moving back",
        help_text="Only when moving back to an earlier stage: say why (it goes on the timeline).",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class CustomerUpdateForm(VersionedForm):
    body = forms.CharField(
        required=False, label="Update sent to the customer", widget=forms.Textarea(attrs={"rows": 3}), max_length=10000
    )
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.all(),
        required=False,
        empty_label="The case's channel",
        label="Sent via",
        widget=FastSelect,
    )


class DetailsForm(VersionedForm):
    """Owners, bridge and impact facts. Only the fields the person changed are sent to
    the service, so the event says exactly what they did."""

    title = forms.CharField(max_length=200, required=False)
    commander = PersonChoiceField(queryset=User.objects.none(), required=False, label="Incident Commander")
    stage_dri = PersonChoiceField(queryset=User.objects.none(), required=False, label="Stage DRI")
    bridge_url = forms.URLField(required=False, label="Incident bridge (call link)", assume_scheme="https")
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False, widget=FastSelect)
    sentiment = forms.ChoiceField(choices=Sentiment.choices)
    arr_at_risk = forms.DecimalField(label="ARR at risk (USD)", min_value=0, max_digits=14, decimal_places=2)
    users_affected_pct = forms.DecimalField(
        label="Users affected (%)", min_value=0, max_value=100, max_digits=5, decimal_places=2
    )
    data_risk = forms.BooleanField(required=False)
    legal_risk = forms.BooleanField(required=False)
    security_risk = forms.BooleanField(required=False)
    reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Reason for lowering the impact",
        help_text="Needed (from a Manager) when the new facts would lower the severity floor.",
    )

    EDIT_FIELDS = (
        "title",
        "commander",
        "stage_dri",
        "bridge_url",
        "team",
        "sentiment",
        "arr_at_risk",
        "users_affected_pct",
        "data_risk",
        "legal_risk",
        "security_risk",
    )

    OWNER_FIELDS = ("commander", "stage_dri", "team")

    def __init__(
        self, *args, incident: Incident, people: QuerySet | None = None, owners_locked: bool = False, **kwargs
    ):
        kwargs.setdefault("initial", {})
        kwargs["initial"] = {
            **{f: getattr(incident, f) for f in self.EDIT_FIELDS},
            "version": incident.version,
            **kwargs["initial"],
        }
        super().__init__(*args, **kwargs)
        people = people if people is not None else workers()
        self.fields["commander"].queryset = people
        self.fields["stage_dri"].queryset = people
        # For the page of someone who may not reassign the case (access.may_reassign): a
        # filled owner or team is shown as text and sent back unchanged, so the rest of
        # the form saves; an empty one stays open to them, as the service allows.
        self.locked_owners: list[tuple[str, str]] = []
        if owners_locked:
            for name in self.OWNER_FIELDS:
                current = getattr(incident, name)
                if current is not None:
                    self.fields[name].widget = forms.HiddenInput()
                    label = self.fields[name].label or name.replace("_", " ").capitalize()
                    self.locked_owners.append((label, str(current) if name == "team" else person_name(current)))

    def changes(self) -> dict:
        return {f: self.cleaned_data[f] for f in self.EDIT_FIELDS if f in self.changed_data}


class HandoffOfferForm(VersionedForm):
    to_user = PersonChoiceField(queryset=User.objects.none(), required=False, label="To a person")
    to_team = forms.ModelChoiceField(
        queryset=Team.objects.all(), required=False, label="Or to a team", widget=FastSelect
    )
    to_stage = forms.ChoiceField(choices=Stage.choices, label="For the stage")
    summary = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    customer_impact = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    actions_taken = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    hypothesis = forms.CharField(required=False, label="Current hypothesis", widget=forms.Textarea(attrs={"rows": 2}))
    next_steps = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    open_questions = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    links = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    acceptance_criteria = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    ping_pong_reason = forms.CharField(
        required=False,
        label="Why hand it straight back? (only for ping-pong)",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, people: QuerySet | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = people if people is not None else workers()

    def packet(self) -> dict:
        return {f: self.cleaned_data[f] for f in PACKET_FIELDS}


class HandoffAnswerForm(VersionedForm):
    """Accept or withdraw: nothing to fill in but the version the page showed."""


class HandoffRejectForm(VersionedForm):
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Why you reject it")


class ChecklistItemForm(VersionedForm):
    done = forms.BooleanField(required=False)


class IntakeForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    customer = forms.ModelChoiceField(queryset=Customer.objects.all(), required=False, widget=FastSelect)
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.all(), required=False, label="Received on", widget=FastSelect
    )
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False, widget=FastSelect)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=MAX_LONG_TEXT)
    reported_at = forms.DateTimeField(
        required=False,
        label="Reported at (blank: now)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    arr_at_risk = forms.DecimalField(
        label="ARR at risk (USD)", required=False, min_value=0, max_digits=14, decimal_places=2, initial=0
    )
    users_affected_pct = forms.DecimalField(
        label="Users affected (%)",
        required=False,
        min_value=0,
        max_value=100,
        max_digits=5,
        decimal_places=2,
        initial=0,
    )
    data_risk = forms.BooleanField(required=False)
    legal_risk = forms.BooleanField(required=False)
    security_risk = forms.BooleanField(required=False, label="Security issue")
    severity = forms.ChoiceField(
        choices=[("", "As the triggers give"), *SeverityKey.choices], required=False, label="Severity"
    )
    severity_reason = forms.CharField(
        required=False, label="Why a different severity?", widget=forms.Textarea(attrs={"rows": 2})
    )
    is_drill = forms.BooleanField(required=False, label="Drill (practice case, never in metrics)")

    def impact(self) -> dict:
        data = self.cleaned_data
        return {
            "arr_at_risk": data.get("arr_at_risk") or 0,
            "users_affected_pct": data.get("users_affected_pct") or 0,
            "data_risk": bool(data.get("data_risk")),
            "legal_risk": bool(data.get("legal_risk")),
            "security_risk": bool(data.get("security_risk")),
        }


class ImpactPreviewForm(forms.Form):
    """The impact facts alone, for the live severity preview (GET, JSON)."""

    arr_at_risk = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=2)
    users_affected_pct = forms.DecimalField(required=False, min_value=0, max_value=100, max_digits=5, decimal_places=2)
    data_risk = forms.BooleanField(required=False)
    legal_risk = forms.BooleanField(required=False)
    security_risk = forms.BooleanField(required=False)


@lru_cache(maxsize=1)
def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class ProfileForm(forms.Form):
    timezone = forms.ChoiceField(choices=timezone_choices, label="Show times in", widget=FastSelect)
