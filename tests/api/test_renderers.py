"""The API's JSON renderer writes what DRF's own would."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

import pytest
from django.urls import reverse
from django.utils.functional import lazy
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer

from leapsync.api.renderers import JSONRenderer
from leapsync.sync import sync_full

pytestmark = pytest.mark.django_db

AWKWARD = {
    "text": 'Łukasz \u2028 \u2029 "quoted" \\ \t <tag> é',
    "error": ErrorDetail("This field is required.", code="required"),
    "lazy": lazy(lambda: "later", str)(),
    "when": datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
    "id": UUID("0002d62f-1a2b-4c3d-8e9f-000000000001"),
    "numbers": [0, -1, 2**53, True, False, None],
    "nested": {"empty": [], "none": None},
}


def test_renders_what_drfs_renderer_renders():
    assert JSONRenderer().render(AWKWARD) == DRFJSONRenderer().render(AWKWARD)


def test_an_indent_asked_for_is_honoured():
    body = JSONRenderer().render({"a": [1]}, "application/json; indent=2")
    assert body == b'{\n  "a": [\n    1\n  ]\n}'


def test_a_page_of_meters_is_drfs_json(api, leap, groups):
    sync_full(client=leap)
    response = api.get(reverse("api:meter_list") + "?page_size=50")
    assert response.content == DRFJSONRenderer().render(json.loads(response.content))
