"""Forms of the enrollments pages: the digest subscription."""

from __future__ import annotations

from django import forms

from enrollments.models import DigestCadence, ProgramEnrollment, Weekday


def program_choices() -> list[tuple[str, str]]:
    programs = (
        ProgramEnrollment.objects.filter(listed=True)
        .exclude(program_identifier="")
        .values_list("program_identifier", flat=True)
        .distinct()
        .order_by("program_identifier")
    )
    return [(p, p) for p in programs]


class DigestSubscriptionForm(forms.Form):
    programs = forms.MultipleChoiceField(
        required=False,
        help_text="Leave empty for every program.",
        widget=forms.CheckboxSelectMultiple,
    )
    cadence = forms.ChoiceField(choices=DigestCadence.choices)
    weekday = forms.TypedChoiceField(
        choices=Weekday.choices, coerce=int, help_text="For the weekly digest."
    )
    window_days = forms.IntegerField(
        min_value=1, max_value=120, initial=14, label="Look-ahead window (days)"
    )
    email = forms.EmailField(
        required=False,
        label="Send to",
        help_text="Another address for this digest; leave empty for the account's own.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Send me this digest")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = program_choices()
        # Keep programs a subscriber chose even after Leap stops listing them.
        chosen = self.initial.get("programs") or []
        choices += [(p, f"{p} (no longer listed)") for p in chosen if (p, p) not in choices]
        self.fields["programs"].choices = choices
