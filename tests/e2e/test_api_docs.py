"""The API's docs page (Swagger UI, vendored) renders every operation under the site's CSP:
no inline script or style is refused, nothing is fetched from elsewhere."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.e2e.helpers import PASSWORD, sign_in

pytestmark = pytest.mark.e2e


def test_api_docs_page_renders_its_operations_without_csp_errors(page, transactional_db):
    get_user_model().objects.create_user("dev", password=PASSWORD)
    sign_in(page, "dev")  # lands on the dashboard, which this person may not see: 403
    problems, requests = [], []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.goto("/api/v1/docs/")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() >= 11
    assert page.get_by_text("/api/v1/changes/", exact=True).count() >= 1
    assert not problems, problems
    base = page.url.split("/api/")[0]
    assert all(url.startswith((base, "data:")) for url in requests), requests
