"""Leap's error answers as typed exceptions, one per HTTP status the API documents."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


class LeapError(Exception):
    """An error answer from Leap: its `title`, the HTTP `status` and Leap's `details` object."""

    def __init__(
        self, title: str, status: int | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        self.title = title
        self.status = status
        self.details = dict(details or {})
        super().__init__(title)

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.details}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(title={self.title!r}, status={self.status!r}, "
            f"details={self.details!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Task queues pickle exceptions; the default would drop status and details.
        return (type(self), (self.title, self.status, self.details))


class LeapBadRequestError(LeapError):
    """400: Leap rejected the request (e.g. a malformed meter id or filter)."""


class LeapAuthError(LeapError):
    """401: the API key is missing or not valid."""


class LeapForbiddenError(LeapError):
    """403: the key lacks the permission, or belongs to the other environment."""


class LeapNotFoundError(LeapError):
    """404: no such meter."""


class LeapUnavailableError(LeapError):
    """429, 5xx, timeouts, dropped connections or unparseable bodies, still failing after retries."""


ERRORS_BY_STATUS: dict[int, type[LeapError]] = {
    400: LeapBadRequestError,
    401: LeapAuthError,
    403: LeapForbiddenError,
    404: LeapNotFoundError,
}


# What each failure means to the people who work the pages, in their words. Recorded errors
# keep the class name first ("LeapUnavailableError: 503 ..."), so `explain` can find it.
PLAIN_WORDS: dict[str, str] = {
    "LeapBadRequestError": "Leap refused the request as malformed.",
    "LeapAuthError": "Leap did not accept leapsync's API key; an admin needs to check it.",
    "LeapForbiddenError": (
        "Leap's API key lacks the permission for this (or belongs to the other environment)."
    ),
    "LeapNotFoundError": "Leap does not know this meter.",
    "LeapUnavailableError": "Leap did not answer properly, even after several tries; it is retried.",
    "LeapError": "Leap answered with an error; an admin can see which.",
    "stopped by signal": (
        "The run was stopped before it finished (a restart, or someone stopped it); "
        "the next run picks up from there."
    ),
}
UNEXPECTED = "Something unexpected went wrong; an admin can see the details."


_EXCEPTION_TEXT = re.compile(r"^\w*(Error|Exception|Exit|Warning)\b")


def explain(recorded: str) -> str:
    """A sentence for a person, for an error recorded as text: the words for a known failure
    (PLAIN_WORDS), UNEXPECTED for another exception's text, else the text as written (the
    messages leapsync writes itself are sentences already)."""
    for name, words in PLAIN_WORDS.items():
        if name in recorded:
            return words
    return UNEXPECTED if _EXCEPTION_TEXT.match(recorded) else recorded
