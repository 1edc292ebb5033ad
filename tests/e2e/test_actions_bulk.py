"""Bulk work in a real browser: filter the inbox, tick the page, take every action the filter
matches (more than a page), assign them, read the preview's counts, confirm, see the rows.

Screenshots go to var/e2e-artifacts/ (prefix 36-).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from actions.models import RequiredAction
from tests.e2e.helpers import screenshot, sign_in
from tests.meters.factories import RequiredActionFactory

pytestmark = pytest.mark.e2e


def test_assign_every_action_a_filter_matches(page, users):
    inside = RequiredActionFactory.create_batch(55, program_identifier="CCA-BULK")
    outside = RequiredActionFactory.create_batch(3, program_identifier="OTHER")
    sign_in(page, users["ops"])
    page.goto(reverse("actions:action_list"))
    page.get_by_label("Program", exact=True).fill("CCA-BULK")
    page.get_by_label("Program", exact=True).press("Enter")
    page.wait_for_url("**program=CCA-BULK**")
    # Enter fires the form's "change" and "submit" triggers: let both swaps land before ticking.
    page.wait_for_load_state("networkidle")
    page.locator('input[name="bulk-query"][value="program=CCA-BULK"]').wait_for(state="attached")

    offer = page.get_by_text("Select all 55 actions matching this filter")
    assert not offer.is_visible()  # Gmail-style: only once the page is ticked
    page.get_by_label("Select all on this page").check()
    offer.wait_for()
    assert page.get_by_text("All 50 on this page are selected.").is_visible()
    page.get_by_label("Select all 55 actions matching this filter").check()
    page.get_by_label("Assign to").select_option(label=users["ops"])
    screenshot(page, "36-bulk-select-all-matching")
    page.get_by_role("button", name="Assign…").click()

    page.get_by_role("heading", name=f"Preview: Assign to {users['ops']}").wait_for()
    summary = page.locator("main").inner_text()
    assert "55 will change" in summary and "0 left alone" in summary
    assert not RequiredAction.objects.filter(assignee__isnull=False).exists()
    screenshot(page, "37-bulk-assign-preview")
    page.get_by_role("button", name="Apply to 55 actions").click()

    page.get_by_role("heading", name=f"Done: Assign to {users['ops']}").wait_for()
    assert "55 changed" in page.locator("main").inner_text()
    screenshot(page, "38-bulk-assign-done")
    assigned = RequiredAction.objects.filter(assignee__username=users["ops"])
    assert set(assigned.values_list("pk", flat=True)) == {a.pk for a in inside}
    assert all(
        a.notes.count() == 1 for a in RequiredAction.objects.filter(pk__in=[i.pk for i in inside])
    )
    assert not RequiredAction.objects.filter(pk__in=[a.pk for a in outside], assignee__isnull=False)

    page.get_by_role("link", name="Back to the inbox").click()
    page.wait_for_url("**program=CCA-BULK**")
    cells = page.locator("#actions tbody td:nth-child(10)").all_inner_texts()
    assert len(cells) == 50 and set(cells) == {users["ops"]}
