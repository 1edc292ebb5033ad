"""dlt's REST API source loading both Leap search endpoints into PostgreSQL: the yardstick that
`bench_sync.py --dlt` runs beside leapsync's first full load on the same simulator.

Runs in a virtualenv of its own (dlt is not a dependency of leapsync; `bench_sync.py` builds it
from requirements/bench-dlt.txt). dlt's defaults throughout: two resources, `POST` with the
page size, a cursor paginator on `next_page_token`/`page_token`, bearer auth, normalisation
into child tables, append disposition.

Usage: python scripts/bench_dlt.py BASE_URL API_KEY PAGE_SIZE POSTGRES_URL
Prints one line: `DLT_SECONDS <wall time> extract <s> normalize <s> load <s>`.
"""

from __future__ import annotations

import sys
import time

import dlt
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from dlt.sources.rest_api import rest_api_source


def main() -> None:
    base_url, api_key, page_size, postgres_url = sys.argv[1:5]
    scheme, rest = postgres_url.split("://", 1)
    user, at, host = rest.partition("@")
    if at and ":" not in user:  # dlt insists on a password; a trust-auth server ignores it
        postgres_url = f"{scheme}://{user}:unused@{host}"

    def resource(name: str, path: str) -> dict:
        return {
            "name": name,
            "endpoint": {
                "path": path,
                "method": "POST",
                "json": {"page_size": int(page_size)},
                "data_selector": "meters",
                "paginator": JSONResponseCursorPaginator(
                    cursor_path="next_page_token", cursor_body_path="page_token"
                ),
            },
        }

    source = rest_api_source(
        {
            "client": {"base_url": base_url, "auth": {"type": "bearer", "token": api_key}},
            "resources": [
                resource("meter_details", "/v2/meters/search"),
                resource("meter_enrollments", "/v2/meters/enrollments/search"),
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="leap_meters_bench",
        destination=dlt.destinations.postgres(postgres_url),
        dataset_name="leap",
        pipelines_dir=sys.argv[5] if len(sys.argv) > 5 else None,
    )
    started = time.monotonic()
    phases = {}
    mark = time.monotonic()
    pipeline.extract(source)
    phases["extract"], mark = time.monotonic() - mark, time.monotonic()
    pipeline.normalize()
    phases["normalize"], mark = time.monotonic() - mark, time.monotonic()
    pipeline.load()
    phases["load"] = time.monotonic() - mark
    seconds = time.monotonic() - started
    print("DLT_SECONDS", f"{seconds:.2f}", *(f"{k} {v:.2f}" for k, v in phases.items()))


if __name__ == "__main__":
    main()
