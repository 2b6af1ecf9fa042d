"""The RCA page's forms: the analysis itself and its action items (a formset). They
convert and type-check; the rules (a summary, an owner and a due date per action) are
checked again by services.postmortems.postmortem_write, the one save door."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from escalations.forms.cases import PersonChoiceField, workers
from escalations.lib.text import MAX_LONG_TEXT
from escalations.models import PostmortemStatus
from escalations.services.postmortems import ActionItemInput


def _text(label: str, rows: int = 4, **kwargs) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=MAX_LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": rows}),
        **kwargs,
    )


class PostmortemForm(forms.Form):
    summary = forms.CharField(
        label="Summary",
        max_length=MAX_LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Summarise what happened."},
    )
    root_cause = _text("Root cause")
    contributing_factors = _text("Contributing factors", help_text="What made it worse or slower to fix.")
    what_went_well = _text("What went well", rows=3)
    what_went_wrong = _text("What went wrong", rows=3)
    status = forms.ChoiceField(label="Status", choices=PostmortemStatus.choices)


class ActionItemForm(forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    description = forms.CharField(label="Action", max_length=300, required=False)
    owner = PersonChoiceField(queryset=get_user_model().objects.none(), required=False, label="Owner")
    due_date = forms.DateField(label="Due date", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    done = forms.BooleanField(label="Done", required=False)

    def __init__(self, *args, people=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = people if people is not None else workers()

    def clean(self):
        data = super().clean()
        if data.get("DELETE"):
            return data
        if not any(data.get(name) for name in ("description", "owner", "due_date", "done")):
            return data
        for name, message in (
            ("description", "Describe the action."),
            ("owner", "Name who owns it."),
            ("due_date", "Give it a due date."),
        ):
            if not data.get(name) and name not in self.errors:
                self.add_error(name, message)
        return data

    def as_input(self) -> ActionItemInput | None:
        """The row for the service, or None for a blank new row."""
        data = self.cleaned_data
        if data.get("id") is None and not data.get("description") and not data.get("DELETE"):
            return None
        return ActionItemInput(
            pk=data.get("id"),
            description=data.get("description") or "",
            owner=data.get("owner"),
            due_date=data.get("due_date"),
            done=bool(data.get("done")),
            delete=bool(data.get("DELETE")),
        )


ActionItemFormSet = forms.formset_factory(ActionItemForm, extra=2, can_delete=True, max_num=100, validate_max=True)


def share_owner_choices(formset) -> None:
    """Evaluate the owner picker once for the page instead of once per row (rendering
    only; validation still uses each field's queryset)."""
    rows = formset.forms + [formset.empty_form]
    if not rows:
        return
    choices = list(iter(rows[0].fields["owner"].choices))
    for row in rows:
        row.fields["owner"].widget.choices = choices
