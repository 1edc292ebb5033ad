"""HTTP client for Leap's Meters API V2: auth, page_token paging, bounded retries, typed errors."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import metadata
from typing import Any, Self
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import msgspec

from leapsync.leap.errors import ERRORS_BY_STATUS, LeapError, LeapUnavailableError
from leapsync.leap.references import reference_problem

logger = logging.getLogger(__name__)

BASE_URLS = {
    "staging": "https://api.staging.leap.energy",
    "production": "https://api.leap.energy",
}

MAX_PAGE_SIZE = 500
WEBHOOKS_PATH = "/v1.1/webhooks"


def _user_agent() -> str:
    try:
        version = metadata.version("leapsync")
    except metadata.PackageNotFoundError:  # running from a checkout, not an installed package
        version = "dev"
    return f"leapsync/{version}"


def resolve_base_url(value: str) -> str:
    """Return the API root for an environment name from BASE_URLS or an http(s) URL.

    Raises ValueError otherwise. The message never echoes the value: a key pasted into the
    wrong variable must not end up in a log.
    """
    value = (value or "").strip()
    if value in BASE_URLS:
        return BASE_URLS[value]
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        return value.rstrip("/")
    raise ValueError(f"Leap base URL must be one of {sorted(BASE_URLS)} or an http(s) URL")


# A search page read only one level deep: each meter record stays JSON text (msgspec.Raw) until
# the sync finds it changed. Decoding a page into dicts costs more than the rest of screening it.
_PAGE = msgspec.json.Decoder(dict[str, msgspec.Raw])
# Anything msgspec cannot encode natively (it never is in a request we build) is sent as its str.
_ENCODER = msgspec.json.Encoder(enc_hook=str)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw] | None)


def _raw_meters(meters: msgspec.Raw | None, path: str) -> list[msgspec.Raw]:
    try:
        return (_RAW_LIST.decode(meters) if meters is not None else None) or []
    except msgspec.ValidationError:
        raise LeapError("search response 'meters' is not a list", None, {"path": path}) from None


@dataclass(frozen=True)
class Page:
    """One page of a search: its meter records, the token for the next page, its 1-based number.

    The records are dicts, or with `raw=True` each record's JSON text as Leap sent it
    (`msgspec.Raw`, bytes-like), so that a caller can skip decoding the ones it already has.
    """

    meters: list[Any]
    next_page_token: str | None
    number: int


@dataclass(frozen=True)
class _Retryable:
    """Why an attempt failed in a way worth retrying, and the server's Retry-After if it sent one."""

    cause: str
    status: int | None = None
    retry_after: float | None = None


# --- Partner-reference update: an INFERENCE, not a published contract ---------------------------
# Leap's public index lists "Update partner reference for a meter" and "... for multiple meters"
# (ReadMe slugs patchv11meterswithmeter_idpartner_meter_ref / patchv11meterspartner_meter_ref), but
# neither the path nor the body is published. The path below follows the slug scheme that maps to
# Leap's confirmed /v1.1/enrollment/... paths; the body is our best guess. Confirm both with
# Leap before enabling writes against production; everything inferred lives in this block only.
PARTNER_REFERENCE_METHOD = "PATCH"
PARTNER_REFERENCE_PATH = "/v1.1/meters/{meter_id}/partner_meter_ref"


def _partner_reference_request(
    meter_id: UUID | str, partner_reference: str
) -> tuple[str, dict[str, Any]]:
    """Path and body for the inferred single-meter update."""
    path = PARTNER_REFERENCE_PATH.format(meter_id=_meter_uuid(meter_id))
    return path, {"partner_reference": _checked_partner_reference(partner_reference)}


# --- end of the inference ------------------------------------------------------------------------


def _meter_uuid(meter_id: UUID | str) -> UUID:
    # Validated locally: a bad id would otherwise be spliced into the URL path.
    if isinstance(meter_id, UUID):
        return meter_id
    try:
        return UUID(str(meter_id))
    except ValueError:
        raise ValueError(f"meter_id is not a UUID: {meter_id!r}") from None


def _checked_partner_reference(value: str) -> str:
    # Refused before sending: Leap's schema would take a value our rule refuses (an invisible
    # character), and any other caller than the meters app gets the same check.
    problem = reference_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _encode_filter_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("search filter datetimes must be timezone-aware")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_encode_filter_value(item) for item in value]
    return value


def build_search_body(filters: Mapping[str, Any] | None, page_size: int) -> dict[str, Any]:
    """The MeterFilterRequest body: None and empty lists dropped (Leap's arrays have minItems 1)."""
    body: dict[str, Any] = {"page_size": page_size}
    for key, value in (filters or {}).items():
        encoded = _encode_filter_value(value)
        if encoded is None or encoded == []:
            continue
        body[key] = encoded
    return body


def _unavailable(attempts: int) -> str:
    return f"Leap unavailable after {attempts} attempt{'s' if attempts != 1 else ''}"


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


class LeapClient:
    """Synchronous client for Leap's Meters API V2.

    Every call retries 429, 5xx, timeouts, dropped connections and unparseable bodies up to
    `max_retries` times with exponential backoff and full jitter (Retry-After wins when sent,
    capped by `backoff_max`), then raises LeapUnavailableError. 400/401/403/404 raise their typed
    error at once. The API key is sent only in the Authorization header and never logged.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
        page_size: int = 500,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("a Leap API key is required")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = resolve_base_url(base_url)
        self._options: dict[str, Any] = {
            "base_url": base_url,
            "api_key": api_key,
            "transport": transport,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "max_retries": max_retries,
            "backoff_base": backoff_base,
            "backoff_max": backoff_max,
            "page_size": page_size,
            "sleep": sleep,
        }
        self._api_key = api_key
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._page_size = page_size
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            headers={
                "Authorization": f"Bearer {api_key}",
                "User-Agent": _user_agent(),
                "Accept": "application/json",
            },
        )

    @property
    def page_size(self) -> int:
        """Meters per search page asked for (Leap may send fewer)."""
        return self._page_size

    @classmethod
    def from_settings(cls, **overrides: Any) -> LeapClient:
        """A client configured from settings.LEAP_*; keyword overrides win."""
        from django.conf import settings

        timeout = float(settings.LEAP_TIMEOUT_SECONDS)
        kwargs: dict[str, Any] = {
            "base_url": settings.LEAP_BASE_URL,
            "api_key": settings.LEAP_API_KEY,
            "connect_timeout": min(10.0, timeout),
            "read_timeout": timeout,
            "max_retries": settings.LEAP_MAX_RETRIES,
            "page_size": settings.LEAP_PAGE_SIZE,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    def for_new_process(self) -> LeapClient:
        """The same client with its own connections, for use in a forked process.

        A forked copy would share the parent's open sockets. An in-process transport (tests,
        the embedded simulator) holds none and is kept; a network one is made afresh.
        """
        options = dict(self._options)
        if isinstance(options["transport"], httpx.HTTPTransport):
            options["transport"] = None
        return type(self)(**options)

    def __repr__(self) -> str:
        return f"LeapClient(base_url={self.base_url!r}, api_key='***')"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- endpoints --------------------------------------------------------------------------------

    def search_meter_details(
        self, filters: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> Iterator[Page]:
        """POST /v2/meters/search, one Page at a time until Leap sends no next_page_token."""
        return self._search("/v2/meters/search", filters, raw=raw)

    def search_meter_enrollments(
        self, filters: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> Iterator[Page]:
        """POST /v2/meters/enrollments/search, one Page at a time (see search_meter_details)."""
        return self._search("/v2/meters/enrollments/search", filters, raw=raw)

    def update_partner_reference(
        self, meter_id: UUID | str, partner_reference: str
    ) -> dict[str, Any]:
        """Set one meter's partner_reference (inferred endpoint, see the block above)."""
        path, body = _partner_reference_request(meter_id, partner_reference)
        return self._request(PARTNER_REFERENCE_METHOD, path, body)

    # --- Webhooks API: the subscription Leap delivers our events through ---------------------------

    def list_webhooks(self) -> list[dict[str, Any]]:
        """GET /v1.1/webhooks: every subscription ({webhook_id, receiver_url, event_types, headers})."""
        webhooks = self._request("GET", WEBHOOKS_PATH).get("webhooks") or []
        if not isinstance(webhooks, list):
            raise LeapError("webhook list is not a list", None, {"path": WEBHOOKS_PATH})
        return webhooks

    def create_webhook(self, config: Mapping[str, Any]) -> str:
        """POST /v1.1/webhooks with {receiver_url, event_types, headers}; the new webhook_id.

        Idempotent: Leap takes no idempotency key, and a POST that timed out (or got a 5xx) may
        still have created the subscription. So a failed POST is never resent blindly: after the
        backoff the list is read again, and a subscription with the same receiver_url and event
        types is taken as the one that POST created. Only when none is there is the POST resent.
        """
        content = _ENCODER.encode(config)
        attempt = 0
        while True:
            outcome = self._attempt("POST", WEBHOOKS_PATH, content)
            if not isinstance(outcome, _Retryable):
                return str(outcome["webhook_id"])
            logger.warning("Leap POST %s failed (%s); looking for it", WEBHOOKS_PATH, outcome.cause)
            # Wait first: a request that was slow rather than lost may land meanwhile.
            self._sleep(self._delay(attempt, outcome.retry_after))
            created = self._matching_webhook(config)
            if created is not None:
                return str(created["webhook_id"])
            if attempt >= self._max_retries:
                raise LeapUnavailableError(
                    _unavailable(attempt + 1),
                    outcome.status,
                    {"method": "POST", "path": WEBHOOKS_PATH, "cause": outcome.cause},
                )
            attempt += 1

    def _matching_webhook(self, config: Mapping[str, Any]) -> dict[str, Any] | None:
        """The subscription at Leap with `config`'s receiver_url and event types, if any."""
        wanted = (config.get("receiver_url"), sorted(config.get("event_types") or []))
        for webhook in self.list_webhooks():
            if (webhook.get("receiver_url"), sorted(webhook.get("event_types") or [])) == wanted:
                return webhook
        return None

    def replace_webhook(self, webhook_id: UUID | str, config: Mapping[str, Any]) -> dict[str, Any]:
        """PUT /v1.1/webhooks/{id}: REPLACES the whole config (read it first and merge)."""
        return self._request("PUT", f"{WEBHOOKS_PATH}/{_meter_uuid(webhook_id)}", config)

    def delete_webhook(self, webhook_id: UUID | str) -> dict[str, Any]:
        """DELETE /v1.1/webhooks/{id}."""
        return self._request("DELETE", f"{WEBHOOKS_PATH}/{_meter_uuid(webhook_id)}")

    def test_webhook(self, webhook_id: UUID | str, event: Mapping[str, Any]) -> dict[str, Any]:
        """POST /v1.1/webhooks/{id}/test: Leap sends `event` and reports what our receiver said."""
        return self._request("POST", f"{WEBHOOKS_PATH}/{_meter_uuid(webhook_id)}/test", event)

    # --- machinery --------------------------------------------------------------------------------

    def _search(self, path: str, filters: Mapping[str, Any] | None, *, raw: bool) -> Iterator[Page]:
        body = build_search_body(filters, self._page_size)
        number = 0
        while True:
            if raw:
                data = self._request("POST", path, body, decode=_PAGE.decode)
                meters, token = _raw_meters(data.get("meters"), path), data.get("next_page_token")
                token = msgspec.json.decode(token) if token is not None else None
            else:
                data = self._request("POST", path, body)
                meters, token = data.get("meters") or [], data.get("next_page_token")
            if not isinstance(meters, list):
                raise LeapError("search response 'meters' is not a list", None, {"path": path})
            token = token or None
            number += 1
            yield Page(meters=meters, next_page_token=token, number=number)
            if token is None:
                return
            if token == body.get("page_token"):
                # A server repeating its token would otherwise page forever.
                raise LeapError("search returned the same page token twice", None, {"path": path})
            body["page_token"] = token

    def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        decode: Callable[[bytes], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Send with bounded retries; return the JSON object or raise a LeapError.

        `decode` replaces the default decoding (into plain dicts and lists) of a success body.
        """
        content = _ENCODER.encode(body) if body is not None else None
        attempt = 0
        while True:
            outcome = self._attempt(method, path, content, decode)
            if not isinstance(outcome, _Retryable):
                return outcome
            if attempt >= self._max_retries:
                raise LeapUnavailableError(
                    _unavailable(attempt + 1),
                    outcome.status,
                    {"method": method, "path": path, "cause": outcome.cause},
                ) from None
            delay = self._delay(attempt, outcome.retry_after)
            logger.warning(
                "Leap %s %s failed (%s); retry %d/%d in %.2fs",
                method,
                path,
                outcome.cause,
                attempt + 1,
                self._max_retries,
                delay,
            )
            self._sleep(delay)
            attempt += 1

    def _attempt(
        self,
        method: str,
        path: str,
        content: bytes | None,
        decode: Callable[[bytes], dict[str, Any]] | None = None,
    ) -> dict[str, Any] | _Retryable:
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            response = self._http.request(method, path, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            return _Retryable(f"timeout: {type(exc).__name__}")
        except (httpx.TransportError, httpx.DecodingError) as exc:
            # Only the class name: the message is httpx's, and nothing from the request goes out.
            return _Retryable(f"connection error: {type(exc).__name__}")
        status = response.status_code
        # Every 5xx is retried, 500 included: Leap's 500 is a plain string with no detail and
        # usually transient. 429 too, although Leap documents no rate limit. A persistent
        # failure still ends in LeapUnavailableError once the retries are spent.
        if status == 429 or status >= 500:
            retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            title = self._error_parts(response)[0]
            return _Retryable(f"HTTP {status} {title}", status, retry_after)
        if status >= 300:
            raise self._error(response)
        return self._success_body(method, response, decode)

    def _success_body(
        self,
        method: str,
        response: httpx.Response,
        decode: Callable[[bytes], dict[str, Any]] | None,
    ) -> dict[str, Any] | _Retryable:
        if not response.content and (response.status_code == 204 or method == "PATCH"):
            return {}
        try:
            data = (decode or msgspec.json.decode)(response.content)
        except msgspec.DecodeError:  # ValidationError too: a page that is not an object
            return _Retryable("unparseable JSON body", response.status_code)
        if not isinstance(data, dict):
            return _Retryable("JSON body is not an object", response.status_code)
        return data

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._backoff_max)
        ceiling = min(self._backoff_max, self._backoff_base * (2**attempt))
        return self._rng.uniform(0.0, ceiling)

    def _error(self, response: httpx.Response) -> LeapError:
        title, details = self._error_parts(response)
        cls = ERRORS_BY_STATUS.get(response.status_code, LeapError)
        return cls(title, response.status_code, details)

    def _error_parts(self, response: httpx.Response) -> tuple[str, dict[str, Any]]:
        """Title and details from Leap's {title, status, details}, a plain string, or anything."""
        fallback = response.reason_phrase or f"HTTP {response.status_code}"
        try:
            body = msgspec.json.decode(response.content) if response.content else None
        except msgspec.DecodeError:
            body = response.text[:500]
        if isinstance(body, dict) and "title" not in body and isinstance(body.get("message"), str):
            title, details = body["message"][:500], {"error": body.get("error")}  # Webhooks API
        elif isinstance(body, dict):
            title = body.get("title") if isinstance(body.get("title"), str) else fallback
            raw_details = body.get("details")
            details = raw_details if isinstance(raw_details, dict) else {}
            if raw_details is not None and not isinstance(raw_details, dict):
                details = {"details": raw_details}
        elif isinstance(body, str) and body.strip():
            title, details = body.strip()[:500], {}
        else:
            title, details = fallback, {}
        return self._redact(title), self._redact_details(details)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***")

    def _redact_details(self, details: dict[str, Any]) -> dict[str, Any]:
        # A proxy or a debug page could echo the request back; never carry the key onwards.
        dumped = _ENCODER.encode(details).decode()
        if self._api_key not in dumped:
            return details
        redacted: dict[str, Any] = msgspec.json.decode(self._redact(dumped))
        return redacted
