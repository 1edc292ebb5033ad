"""API test fixtures: tokens per scope, and a client whose every response is checked against
the OpenAPI document the API serves (path, method, status and body)."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cache
from typing import Any

import openapi_schema_validator as osv
import pytest
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from leapsync.api import tokens
from leapsync.api.models import ApiToken, Scope
from tests.leapsync.conftest import leap, simulator  # noqa: F401

FORMAT_CHECKER = getattr(osv, "OAS31FormatChecker", None) or osv.oas31_format_checker
DOCUMENT_URI = "urn:leapsync-api"


@cache
def openapi_document() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


@cache
def _routes() -> list[tuple[re.Pattern[str], str]]:
    routes = []
    for template in openapi_document()["paths"]:
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        routes.append((re.compile(f"^{pattern}$"), template))
    return routes


def response_schema(path: str, method: str, status: int, content_type: str) -> dict[str, Any]:
    """The documented schema of this answer; fails the test when it is not documented."""
    template = next((t for pattern, t in _routes() if pattern.match(path)), None)
    operation = openapi_document()["paths"][template].get(method.lower()) if template else None
    if operation is None:
        # No such operation (a path the catch-all answers, a method not allowed, the schema
        # itself refused): only a problem document may come back.
        assert content_type == "application/problem+json", f"{method} {path}: {status}"
        assert status in (401, 404, 405, 429), f"{method} {path}: {status}"
        return {"$ref": "#/components/schemas/Problem"}
    response = operation["responses"].get(str(status))
    assert response is not None, f"{method} {template} does not document status {status}"
    media = content_type.split(";")[0].strip()
    assert media in response.get("content", {}), f"{method} {template} {status}: no {media}"
    return response["content"][media]["schema"]


def validate(instance: Any, schema: dict[str, Any]) -> None:
    wrapper = {"$ref": f"{DOCUMENT_URI}#/components/schemas/_Answer"}
    document = {**openapi_document()}
    document["components"] = {
        **document["components"],
        "schemas": {**document["components"]["schemas"], "_Answer": schema},
    }
    registry = Registry().with_resource(
        DOCUMENT_URI, Resource(contents=document, specification=DRAFT202012)
    )
    validator = osv.OAS31Validator(wrapper, registry=registry, format_checker=FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, "\n".join(errors[:10])


class CheckedClient(Client):
    """A test client for the API: each JSON answer must match its documented schema."""

    def request(self, **request: Any) -> Any:
        response = super().request(**request)
        path, method = request["PATH_INFO"], request["REQUEST_METHOD"]
        document = path.startswith("/api/v1/schema/") and response.status_code == 200
        if path.startswith("/api/v1/") and not path.startswith("/api/v1/docs/") and not document:
            content_type = response.get("Content-Type", "")
            if response.status_code != 500 and "json" in content_type:
                schema = response_schema(path, method, response.status_code, content_type)
                validate(response.json(), schema)
        return response


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def make_token(name: str, *scopes: str, **fields: Any) -> tuple[ApiToken, str]:
    token, secret = tokens.issue(name, scopes)
    if fields:
        ApiToken.objects.filter(pk=token.pk).update(**fields)
        token.refresh_from_db()
    return token, secret


@pytest.fixture
def api(db) -> CheckedClient:
    """Authenticated with a token holding every scope."""
    _, secret = make_token("erp", *Scope.values)
    return CheckedClient(headers=bearer(secret))


@pytest.fixture
def reader(db) -> CheckedClient:
    _, secret = make_token("bi", Scope.READ)
    return CheckedClient(headers=bearer(secret))


@pytest.fixture
def anonymous() -> CheckedClient:
    return CheckedClient()


def expired_fields() -> dict[str, Any]:
    return {"expires_at": timezone.now() - timedelta(minutes=1)}


@pytest.fixture(autouse=True)
def _streams_in_turn(settings):
    """Syncs run their streams in this process: a test reads what they wrote right after."""
    settings.SYNC_PARALLEL_STREAMS = False
