"""Forms of the views bar and the column chooser."""

from __future__ import annotations

from django import forms
from django.contrib.auth.models import Group

from leapsync.preferences.models import ListPage, SavedView


class SaveViewForm(forms.Form):
    page = forms.ChoiceField(choices=ListPage.choices, widget=forms.HiddenInput)
    query = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
    name = forms.CharField(max_length=SavedView._meta.get_field("name").max_length, label="Name")
    default = forms.BooleanField(required=False, label="Open the list with this view")
    shared_with = forms.ModelChoiceField(
        queryset=Group.objects.none(),
        required=False,
        label="Share with",
        empty_label="Only me",
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["shared_with"].queryset = user.groups.all()

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError("Give the view a name.")
        return name


class ColumnsForm(forms.Form):
    page = forms.ChoiceField(choices=ListPage.choices, widget=forms.HiddenInput)
    shown = forms.MultipleChoiceField(required=False)
    offered = forms.MultipleChoiceField(required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The list offers its columns; names are checked by the list when it hides them.
        names = [(n, n) for n in self.data.getlist("offered")[:100]] if self.is_bound else []
        self.fields["shown"].choices = names
        self.fields["offered"].choices = names
