"""A count of meters with the link to the meters list that shows exactly those meters.

Every figure on the dashboard, the deadlines page and in the digest is one of these: the count is
computed with the conditions the meters list applies to the parameters its link carries, so a
number and the list behind it agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

# The meters list's parameters for "still in Leap": every figure counts only those.
IN_LEAP = {"missing": "false"}


@dataclass
class Figure:
    label: str
    value: int
    url: str
    delta: int | None = None
    status: str = ""


def meters_url(params: dict[str, str]) -> str:
    """The meters list filtered by `params`."""
    return f"{reverse('meters:meter_list')}?{urlencode(params)}"
