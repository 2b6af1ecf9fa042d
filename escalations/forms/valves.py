"""Forms of the escape valves: asking for an executive or a service credit on the case
page, and a Manager's decision on the approvals page. Fields are optional where the
service states the rule (a reason, a justification), so every door gives the same
message naming the field."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.utils import timezone

from escalations.choices import ClockKind
from escalations.models import Breach


class ExecutiveRequestForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Why an executive is needed",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Immediate when an objective trigger of the policy holds; otherwise a Manager decides.",
    )


def breach_label(breach: Breach) -> str:
    """A breach as a person reads it: the promise and when it fell due, in their zone."""
    due = timezone.localtime(breach.due_at)
    return f"{ClockKind(breach.kind).label} target, due {due.day} {due:%b %H:%M}"


class CreditRequestForm(forms.Form):
    breaches = forms.TypedMultipleChoiceField(
        coerce=int, required=False, label="Breaches", widget=forms.CheckboxSelectMultiple
    )
    amount = forms.DecimalField(required=False, max_digits=12, decimal_places=2, min_value=0, label="Amount (USD)")
    justification = forms.CharField(
        required=False, max_length=4000, label="Justification", widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, breaches: Iterable[Breach] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["breaches"].choices = [(b.pk, breach_label(b)) for b in breaches]


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("deny", "Deny")], widget=forms.HiddenInput)
    decision_reason = forms.CharField(
        required=False, max_length=2000, label="Reason", widget=forms.Textarea(attrs={"rows": 2})
    )
