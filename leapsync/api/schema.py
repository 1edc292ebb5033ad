"""The OpenAPI document's shared parts: the bearer scheme, and the problem responses every
operation may give (so every error body the API sends is described)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "detail": {"type": "string"},
                },
                "required": ["field", "code", "detail"],
            },
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}
ERRORS = {
    "400": "Invalid parameters or body",
    "401": "No token, or a token that is unknown, expired or revoked",
    "403": "The token lacks the scope this operation needs",
    "404": "No such object",
    "405": "Method not allowed",
    "413": "The body is larger than the server takes (DATA_UPLOAD_MAX_MEMORY_SIZE)",
    "429": "Too many requests for this token: wait Retry-After seconds",
}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "leapsync.api.auth.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API token (lsk_...)"}


def add_problems(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: the Problem schema, and its responses on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(status, {"description": description, "content": content})
    return result
