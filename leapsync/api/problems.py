"""Every API error as RFC 9457 problem details (application/problem+json): `type`, `title`,
`status`, `detail`, our `code`, and for invalid input the `errors` of each field."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

CONTENT_TYPE = "application/problem+json"


def problem_response(
    status: int, detail: str, *, code: str, errors: list[dict[str, str]] | None = None
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",  # the status says it all: the title is its phrase (RFC 9457 4.2.1)
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return Response(body, status=status, content_type=CONTENT_TYPE)


def handle(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (statuses, Retry-After, WWW-Authenticate), with the body reshaped."""
    if isinstance(exc, RequestDataTooBig):
        detail = f"The body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes: send pages."
        return problem_response(413, detail, code="too_large")
    response = exception_handler(exc, context)
    if response is None:
        return None  # a server error: Django's 500 page and the error log
    if isinstance(exc, exceptions.ValidationError):
        errors = list(field_errors(exc.detail))
        detail = "The request is not valid; see `errors`."
        problem = problem_response(response.status_code, detail, code="invalid", errors=errors)
    else:
        detail, code = _text(response.data)
        problem = problem_response(response.status_code, detail, code=code)
    for header, value in response.headers.items():
        if header.lower() in ("retry-after", "www-authenticate", "allow"):
            problem[header] = value
    return problem


def _text(data: Any) -> tuple[str, str]:
    detail = data.get("detail", "") if isinstance(data, dict) else data
    return str(detail), getattr(detail, "code", "error")


def field_errors(detail: Any, path: str = "") -> Any:
    """{"field": "sites.3.external_id", "code": ..., "detail": ...} for each message."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            yield from field_errors(value, f"{path}.{name}" if path and name else path or name)
    elif isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            for item in detail:
                yield {"field": path, "code": getattr(item, "code", "invalid"), "detail": item}
        else:
            for index, item in enumerate(detail):
                yield from field_errors(item, f"{path}.{index}" if path else str(index))
    else:
        yield {"field": path, "code": getattr(detail, "code", "invalid"), "detail": str(detail)}
