"""A downstream system mirroring leapsync's meters and mappings through the API, as docs/api.md
describes: read the feed's head, read every meter, then follow the feed and re-read each meter
an event names. Its state is what it keeps of each meter (KEPT)."""

from __future__ import annotations

from typing import Any

KEPT = ("partner_reference", "global_enrollment_status", "missing_from_leap", "is_archived")


def kept(row: dict[str, Any]) -> dict[str, Any]:
    """What the downstream system stores of one meter."""
    return {
        **{key: row[key] for key in KEPT},
        "site": row["site"]["external_id"] if row["site"] else None,
        "programs": {
            p["program_identifier"]: (
                p["delivery_period"],
                p["enrollment_status"],
                p["market_group_name"],
            )
            for p in row["programs"]
        },
    }


class Mirror:
    def __init__(self, client: Any, *, feed_page: int = 100) -> None:
        self.client = client
        self.feed_page = feed_page
        self.meters: dict[str, dict[str, Any]] = {}
        self.cursor = ""
        self.events_seen: list[int] = []

    def _get(self, url: str) -> Any:
        response = self.client.get(url)
        assert response.status_code == 200, response.content
        return response.json()

    def start(self) -> None:
        """Where the feed ends now, then every meter (changes meanwhile come in the feed)."""
        self.cursor = self._get("/api/v1/changes/head/")["cursor"]
        url = "/api/v1/meters/?page_size=500"
        while url:
            page = self._get(url)
            for row in page["results"]:
                self.meters[row["meter_id"]] = kept(row)
            url = page["next"]

    def follow(self, between_pages: Any = None) -> None:
        """Every event after the stored cursor; each meter named is read again."""
        while True:
            page = self._get(f"/api/v1/changes/?after={self.cursor}&limit={self.feed_page}")
            self.events_seen += [event["id"] for event in page["results"]]
            for meter_id in {event["meter_id"] for event in page["results"]}:
                self.meters[meter_id] = kept(self._get(f"/api/v1/meters/{meter_id}/"))
            self.cursor = page["next"]  # stored only once the page is applied
            if between_pages is not None:
                between_pages()
            if not page["has_more"]:
                return
