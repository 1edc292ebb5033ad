"""Ranking candidate sites for a meter: normalised name, address, postal code and account number."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Q
from rapidfuzz import fuzz

from leapsync.lib.search import text_query
from meters.models import MatchReason, Meter, Site

# Street-type and direction words as USPS abbreviates them, so "Main Street" == "Main St".
ABBREVIATIONS = {
    "street": "st",
    "str": "st",
    "avenue": "ave",
    "av": "ave",
    "road": "rd",
    "boulevard": "blvd",
    "drive": "dr",
    "lane": "ln",
    "court": "ct",
    "place": "pl",
    "parkway": "pkwy",
    "highway": "hwy",
    "terrace": "ter",
    "circle": "cir",
    "square": "sq",
    "trail": "trl",
    "way": "wy",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
}
UNIT_WORDS = ("apartment", "apt", "unit", "suite", "ste", "room", "rm", "floor", "fl", "no")
_UNIT_RE = re.compile(r"(?:\b(?:" + "|".join(UNIT_WORDS) + r")\b\.?|#)\s*#?\s*([a-z0-9-]+)")
_NON_WORD = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")

# How much each part counts when no account number matches exactly (they sum to 1).
WEIGHTS = {"name": 0.35, "address": 0.35, "postal_code": 0.15, "reference": 0.15}
# Candidate sites fetched per meter are capped; ranking needs only the best few.
SUGGESTIONS_SHOWN = 5


def _ascii_lower(value: str) -> str:
    text = unicodedata.normalize("NFKD", value or "").encode("ascii", "ignore").decode()
    return text.lower()


def normalise_name(value: str) -> str:
    """Case, accents and punctuation removed, spaces collapsed."""
    return _SPACES.sub(" ", _NON_WORD.sub(" ", _ascii_lower(value))).strip()


def normalise_address(*parts: str) -> str:
    """One comparable address line: case, punctuation, street suffixes and unit numbers unified.

    "12 Main Street, Apt. 4B" and "12 main st #4b" both become "12 main st unit 4b".
    """
    text = _ascii_lower(" ".join(p for p in parts if p))
    text = _UNIT_RE.sub(lambda m: f" unit {m.group(1)} ", text)
    words = _SPACES.sub(" ", _NON_WORD.sub(" ", text)).split()
    return " ".join(ABBREVIATIONS.get(word, word) for word in words)


def normalise_account(value: str) -> str:
    """Account numbers compare on letters and digits only ("12-345 6" == "123456")."""
    return re.sub(r"[^A-Z0-9]", "", (value or "").upper())


def normalise_postal(value: str) -> str:
    """The first five characters of a ZIP (ZIP+4 compares as ZIP), upper-cased, no spaces."""
    return re.sub(r"\s+", "", (value or "").upper())[:5]


@dataclass(frozen=True)
class Suggestion:
    """One candidate site for one meter, with the parts of its score (each 0–100)."""

    site: Site
    score: int
    account_match: bool
    parts: dict[str, int]

    @property
    def sort_key(self) -> tuple[bool, float]:
        # An exact account-number match outranks everything else.
        return (self.account_match, self.score)

    @property
    def identified(self) -> bool:
        """An exact account number or reference match: the queue ranks these before any score."""
        return self.account_match or self.parts["reference"] == 100

    @property
    def reason(self) -> MatchReason:
        """The strongest part of the match: an exact reference, then an exact account number,
        else the part that adds most to the score (address with its postal code, or name).
        """
        if self.parts["reference"] == 100:
            return MatchReason.REFERENCE
        if self.account_match:
            return MatchReason.ACCOUNT
        weight = {
            MatchReason.REFERENCE: WEIGHTS["reference"] * self.parts["reference"],
            MatchReason.ADDRESS: WEIGHTS["address"] * self.parts["address"]
            + WEIGHTS["postal_code"] * self.parts["postal_code"],
            MatchReason.NAME: WEIGHTS["name"] * self.parts["name"],
        }
        # max() keeps the first of equals: reference, then address, then name.
        return max(weight, key=lambda reason: weight[reason])

    def explain(self) -> str:
        """The score's parts in words, for the page and tooltips."""
        parts = [f"{name.replace('_', ' ')} {value}" for name, value in self.parts.items()]
        prefix = "account number matches exactly; " if self.account_match else ""
        return prefix + ", ".join(parts)


def score(meter: Meter, site: Site) -> Suggestion:
    """How well `site` fits `meter`; parts the meter or site lack count as 0."""
    meter_account = normalise_account(meter.electric_service_account_number)
    account = bool(meter_account) and meter_account == normalise_account(
        site.utility_account_number
    )
    names = [meter.end_customer_name, meter.end_customer_company_name]
    site_name = normalise_name(site.name)
    name = max((_ratio(normalise_name(n), site_name) for n in names if n), default=0)
    address = _ratio(
        normalise_address(meter.street_1, meter.street_2), normalise_address(site.street)
    )
    meter_postal = normalise_postal(meter.postal_code)
    postal = 100 if meter_postal and meter_postal == normalise_postal(site.postal_code) else 0
    reference = _reference_ratio(meter.partner_reference, site.external_id)
    parts = {"name": name, "address": address, "postal_code": postal, "reference": reference}
    weighted = sum(WEIGHTS[key] * value for key, value in parts.items())
    total = 100 if account else min(round(weighted), 99)
    return Suggestion(site=site, score=total, account_match=account, parts=parts)


def _ratio(left: str, right: str) -> int:
    if not left or not right:
        return 0
    return round(fuzz.token_sort_ratio(left, right))


def _reference_ratio(reference: str, external_id: str) -> int:
    if not reference or not external_id:
        return 0
    if reference.strip().lower() == external_id.strip().lower():
        return 100
    return round(fuzz.ratio(reference.lower(), external_id.lower()))


def rank(meter: Meter, sites: Iterable[Site], limit: int = SUGGESTIONS_SHOWN) -> list[Suggestion]:
    """The best `limit` sites for `meter`, best first; sites scoring 0 are left out."""
    scored = [s for s in (score(meter, site) for site in sites) if s.score > 0]
    scored.sort(key=lambda s: (s.sort_key, s.site.external_id), reverse=True)
    return scored[:limit]


def candidate_query(meters: Sequence[Meter]) -> Q:
    """Sites that could fit any of `meters`: same account, postal code, reference, street or name.

    One query for a whole page of meters; scoring then happens in Python.
    """
    accounts, postals, references, streets, names = set(), set(), set(), set(), set()
    for meter in meters:
        if meter.electric_service_account_number:
            accounts |= {
                meter.electric_service_account_number,
                normalise_account(meter.electric_service_account_number),
            }
        if meter.postal_code:
            postals |= {meter.postal_code, normalise_postal(meter.postal_code)}
        if meter.partner_reference:
            references.add(meter.partner_reference)
        if meter.street_1:
            streets.add(meter.street_1)
        if meter.end_customer_name:
            names.add(meter.end_customer_name)
    query = Q(pk__in=[])
    if accounts:
        query |= Q(utility_account_number__in=accounts)
    if postals:
        query |= Q(postal_code__in=postals)
    if references:
        query |= Q(external_id__in=references)
    if streets:
        query |= Q(street__in=streets)
    if names:
        query |= Q(name__in=names)
    return query


def _site_keys(site: Site) -> list[tuple[str, str]]:
    keys = [
        ("account", normalise_account(site.utility_account_number)),
        ("postal", normalise_postal(site.postal_code)),
        ("reference", site.external_id),
        ("street", site.street),
        ("name", site.name),
    ]
    return [key for key in keys if key[1]]


def _meter_keys(meter: Meter) -> list[tuple[str, str]]:
    keys = [
        ("account", normalise_account(meter.electric_service_account_number)),
        ("postal", normalise_postal(meter.postal_code)),
        ("reference", meter.partner_reference),
        ("street", meter.street_1),
        ("name", meter.end_customer_name),
    ]
    return [key for key in keys if key[1]]


def suggest(meters: Sequence[Meter], limit: int = SUGGESTIONS_SHOWN) -> dict[int, list[Suggestion]]:
    """Ranked suggestions for each meter (by pk), from one query for all of them.

    Each meter is scored only against the sites sharing one of its keys, not the whole batch.
    """
    if not meters:
        return {}
    index: dict[tuple[str, str], list[Site]] = defaultdict(list)
    for site in Site.objects.filter(candidate_query(meters)):
        for key in _site_keys(site):
            index[key].append(site)
    result = {}
    for meter in meters:
        candidates = {site.pk: site for key in _meter_keys(meter) for site in index.get(key, ())}
        result[meter.pk] = rank(meter, candidates.values(), limit)
    return result


def search_sites(text: str, limit: int = 20) -> list[Site]:
    """Sites whose search text (id, name, address, postal code, account) holds `text`."""
    text = text.strip()
    if not text:
        return []
    query = text_query(text, folded=tuple(Site.SEARCH_COLUMNS))
    return list(Site.objects.filter(query).order_by("external_id")[:limit])
