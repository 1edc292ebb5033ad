"""Keyset pagination for every list: an opaque cursor on the primary key, never OFFSET, so
page 10,000 costs what page 1 does and rows written meanwhile never shift a page."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import CursorPagination


class KeysetPagination(CursorPagination):
    ordering = "pk"  # unique and indexed: a page is `pk > cursor ORDER BY pk LIMIT n`
    page_size = 100
    page_size_query_param = "page_size"
    # The most a page may hold: 500 meters render within the 150 ms every list keeps to
    # (docs/benchmarks.md); 1000 took 328 ms at p95.
    max_page_size = 500

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """DRF's, in OpenAPI 3.1 terms (`nullable` is 3.0's): a missing page link is null."""
        link = {"type": ["string", "null"], "format": "uri"}
        return {
            "type": "object",
            "required": ["results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }
