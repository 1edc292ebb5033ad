"""The Sync page's form: the meters a targeted refresh re-reads from Leap."""

from __future__ import annotations

import re

from django import forms

from leapsync.ui.filters import parse_uuid

# One refresh task reads at most one batch of Leap's meter_ids filter (1000 ids a call).
MAX_REFRESH_METERS = 1000
_SEPARATORS = re.compile(r"[\s,;]+")


class MeterRefreshForm(forms.Form):
    meter_ids = forms.CharField(
        label="meter_ids",
        max_length=MAX_REFRESH_METERS * 40,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40, "spellcheck": "false"}),
        help_text=f"Leap meter_ids, separated by spaces, commas or lines; up to "
        f"{MAX_REFRESH_METERS}.",
    )

    def clean_meter_ids(self) -> list[str]:
        """The distinct meter_ids, sorted; every part must be a UUID."""
        parts = [part for part in _SEPARATORS.split(self.cleaned_data["meter_ids"]) if part]
        bad = [part for part in parts if parse_uuid(part) is None]
        if bad:
            shown = ", ".join(part[:40] for part in bad[:3])
            raise forms.ValidationError(f"Not a meter_id: {shown}{' …' if len(bad) > 3 else ''}")
        ids = sorted({str(parse_uuid(part)) for part in parts})
        if not ids:
            raise forms.ValidationError("Give at least one meter_id.")
        if len(ids) > MAX_REFRESH_METERS:
            raise forms.ValidationError(
                f"{len(ids)} meter_ids: at most {MAX_REFRESH_METERS} at a time."
            )
        return ids
