"""The OpenAPI document: valid OpenAPI 3.1, every schema in it a valid schema, served as
generated; the problem responses documented on every operation."""

from __future__ import annotations

import json

import openapi_schema_validator as osv
import pytest
from drf_spectacular.validation import validate_schema

from tests.api.conftest import openapi_document

pytestmark = pytest.mark.django_db


def test_the_document_is_valid_openapi():
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate_schema(document)  # the OpenAPI 3.1 meta-schema
    for name, schema in document["components"]["schemas"].items():
        osv.OAS31Validator.check_schema(schema), name


def test_every_operation_documents_the_problem_responses():
    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"400", "401", "403", "404", "405", "413", "429"} <= statuses, (method, path)
            assert operation["security"] == [{"bearerToken": []}], (method, path)


def test_the_served_document_is_the_generated_one(reader):
    response = reader.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    served = json.loads(response.content)
    assert served["paths"].keys() == openapi_document()["paths"].keys()
