"""Forms of the action page (workflow: status, assignee, due date; notes; notify) and of the
inbox's bulk operations."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from actions.bulk import ASSIGN, DUE_DATE, KINDS, STATUS, Operation
from actions.models import WorkflowStatus


def workers() -> QuerySet:
    """People who may be assigned an action: active users allowed to change actions."""
    return (
        get_user_model()
        .objects.filter(
            Q(groups__permissions__codename="change_requiredaction") | Q(is_superuser=True),
            is_active=True,
        )
        .distinct()
        .order_by("username")
    )


class WorkflowForm(forms.Form):
    status = forms.ChoiceField(choices=WorkflowStatus.choices)
    assignee = forms.ModelChoiceField(
        queryset=workers(), required=False, empty_label="Nobody", to_field_name="username"
    )
    due_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: the enrollment deadline.",
    )


class NoteForm(forms.Form):
    text = forms.CharField(
        label="Add a note",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What happened, what's next…"}),
    )

    def clean_text(self) -> str:
        text = self.cleaned_data["text"].strip()
        if not text:
            raise forms.ValidationError("Write something first.")
        return text


class NotifyForm(forms.Form):
    """The click token from the preview: one email per action and token, however many posts."""

    token = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)


class BulkForm(forms.Form):
    """One bulk operation on the inbox's selection: the checked rows (`pk`), or with `all`
    every action the filter `query` (the inbox's query string) matches when confirmed."""

    kind = forms.ChoiceField(choices=KINDS)
    status = forms.ChoiceField(choices=WorkflowStatus.choices, required=False)
    assignee = forms.ModelChoiceField(
        queryset=workers(), required=False, empty_label="Nobody", to_field_name="username"
    )
    due_date = forms.DateField(
        required=False, label="Due date", widget=forms.DateInput(attrs={"type": "date"})
    )
    all = forms.BooleanField(required=False)
    query = forms.CharField(required=False, max_length=4000)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("kind") == STATUS and not data.get("status"):
            self.add_error("status", "Choose the status to set.")
        return data

    def operation(self) -> Operation:
        data = self.cleaned_data
        return Operation(
            data["kind"],
            status=data["status"] if data["kind"] == STATUS else "",
            assignee=data["assignee"] if data["kind"] == ASSIGN else None,
            due_date=data["due_date"] if data["kind"] == DUE_DATE else None,
        )
