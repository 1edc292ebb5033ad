"""Forms for mapping, partner_reference edits and the site import (validation only, no writes)."""

from __future__ import annotations

from django import forms

from leapsync.leap.references import RULE, reference_problem
from meters.services import Seen

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class SeenForm(forms.Form):
    """What the page showed when it was loaded: Leap's value and the open change, if any."""

    loaded = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)
    open_change = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def seen(self) -> Seen:
        return Seen(self.cleaned_data["loaded"], self.cleaned_data["open_change"])


class PartnerReferenceForm(SeenForm):
    """A new partner_reference, bound to what the page showed when it was loaded.

    A plain Form: a ModelForm would change the meter before the service records the change.
    """

    partner_reference = forms.CharField(
        max_length=256, strip=True, label="partner_reference", help_text=RULE
    )

    def clean_partner_reference(self) -> str:
        value = self.cleaned_data["partner_reference"]
        problem = reference_problem(value)
        if problem:
            raise forms.ValidationError(problem)
        return value


class SiteImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=(
            "First line: column names. external_id is required; name, street, city, state, "
            "postal_code, utility_name, utility_account_number and notes are read when present."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                "The file is larger than 200 MB; use manage.py import_sites."
            )
        return upload


MAX_REFERENCE_UPLOAD_BYTES = 20 * 1024 * 1024  # room for extra columns; MAX_ROWS rows at most


class ReferenceImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=(
            "First line: meter_id,partner_reference. Other columns are ignored. UTF-8 text, "
            "at most 20,000 rows (split a longer file)."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_REFERENCE_UPLOAD_BYTES:
            raise forms.ValidationError(
                "The file is larger than 20 MB: split it into smaller files."
            )
        return upload


class BulkAcceptForm(forms.Form):
    """A bulk accept's threshold; its confirmation also carries the preview's time."""

    threshold = forms.IntegerField(
        min_value=1, max_value=100, initial=90, label="Accept candidates scoring at least"
    )
    as_of = forms.DateTimeField(required=False, widget=forms.HiddenInput)
