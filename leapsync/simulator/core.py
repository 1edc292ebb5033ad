"""LeapSimulator: meter store, simulated clock, render caches, search and the control API."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import httpx
import msgspec

from .details import render_details
from .enrollment import RenderContext, render_enrollment
from .events import events_for
from .faults import FaultPlan
from .filters import MeterFilter, matches
from .generate import generate_meter
from .mutations import apply_mutations
from .paging import PageTokens
from .routes import dispatch
from .state import MeterState
from .timeutil import DEFAULT_START, fmt_us, next_month_start_everywhere, region_month
from .transport import SimulatorTransport
from .webhooks import WebhookHub

STAMP_STEP = timedelta(microseconds=1)


class LeapSimulator:
    """A deterministic, in-memory fake of Leap's Meters V2 API.

    Meters are generated from (seed, index); only compact state is kept and each meter's JSON is
    cached as bytes until it changes or the clock makes it change. The clock moves only when told.
    """

    def __init__(
        self,
        meters: int = 1000,
        seed: int = 1,
        api_key: str = "test-key",
        start: datetime | None = None,
        send_nulls: bool = False,
    ) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.seed = seed
        self.api_key = api_key
        self.lock = threading.RLock()
        self.fault_plan = FaultPlan()
        self.slow_seconds = 35.0  # beyond the client's default 30 s timeout
        # Off: partner_reference updates are answered with success but not applied, the way
        # a vendor can lose a write it acknowledged (control route `reference_updates`).
        self.apply_reference_updates = True
        secret = hashlib.sha256(f"leap-simulator:{seed}:{api_key}".encode()).digest()
        self.tokens = PageTokens(secret)
        self.webhooks = WebhookHub(seed)
        self._send_nulls = send_nulls
        self._epoch = 0
        self._set_clock((start or DEFAULT_START).astimezone(UTC))
        self._meters: list[MeterState] = []
        self._by_id: dict[str, MeterState] = {}
        self._by_ref: dict[str, list[MeterState]] = {}
        for seq in range(meters):
            self._index(generate_meter(seed, seq, self._now))
        self._last_stamp = max((m.updated_at for m in self._meters), default=self._now)

    # --- clock -----------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The simulated current instant (UTC)."""
        return self._now

    def _set_clock(self, when: datetime) -> None:
        self._now = when
        self._now_ts = when.timestamp()
        months = {region: region_month(when, region) for region in _REGIONS}
        self.ctx = RenderContext(self.seed, when, months, self._send_nulls)

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta` (must not be negative); return the new time."""
        if delta < timedelta(0):
            raise ValueError("advance() only moves forward; use set_time() to go back")
        with self.lock:
            self._set_clock(self._now + delta)
            return self._now

    def set_time(self, when: datetime) -> datetime:
        """Set the clock to an aware instant, forwards or backwards; return it."""
        if when.tzinfo is None:
            raise ValueError("set_time() needs a timezone-aware datetime")
        with self.lock:
            if when < self._now:
                self._epoch += 1  # cached renderings only know how to expire forwards
            self._set_clock(when.astimezone(UTC))
            return self._now

    def rollover(self) -> datetime:
        """Jump to the start of next month in every region; updated_at does not move."""
        with self.lock:
            self._set_clock(next_month_start_everywhere(self._now))
            return self._now

    def stamp(self) -> datetime:
        """A new updated_at: the clock, but always later than every stamp handed out before."""
        self._last_stamp = max(self._now, self._last_stamp + STAMP_STEP)
        return self._last_stamp

    # --- store -----------------------------------------------------------------------------

    def _index(self, m: MeterState) -> None:
        self._meters.append(m)
        self._by_id[m.meter_id] = m
        if m.partner_reference is not None:
            self._by_ref.setdefault(m.partner_reference, []).append(m)

    def add_meter(self) -> MeterState:
        """Create the next meter, as if it had just been created at Leap."""
        m = generate_meter(self.seed, len(self._meters), self._now)
        m.created_at = m.updated_at = self.stamp()
        m.participation = m.participation[-1:]
        m.participation[0].preference, m.participation[0].reason = "PARTICIPATE", None
        m.participation[0].start = self._now.strftime("%Y-%m-%dT%H:%M:%SZ")
        self._index(m)
        return m

    def find(self, meter_id: str) -> MeterState | None:
        """The meter with this id (any case), or None."""
        return self._by_id.get(meter_id.lower())

    def meters(self) -> list[MeterState]:
        """All meter states in sequence order (do not mutate without touch())."""
        return self._meters

    def touch(self, m: MeterState) -> None:
        """Record a change to `m`: new updated_at from the clock, caches dropped."""
        m.updated_at = self.stamp()
        m.invalidate()

    def set_partner_reference(self, m: MeterState, value: str | None) -> bool:
        """Change a meter's partner_reference; False (and no update) when it is unchanged."""
        if m.partner_reference == value:
            return False
        if m.partner_reference is not None:
            self._by_ref[m.partner_reference].remove(m)
        if value is not None:
            self._by_ref.setdefault(value, []).append(m)
        m.partner_reference = value
        self.touch(m)
        return True

    def meter_ids(self) -> list[str]:
        """Every meter id, in sequence (page) order."""
        return [m.meter_id for m in self._meters]

    # --- rendering -------------------------------------------------------------------------

    def enrollment_bytes(self, m: MeterState) -> bytes:
        """The enrollment JSON for `m` now (cached until it changes or expires)."""
        if m.enr is None or m.enr_epoch != self._epoch or self._now_ts >= m.enr_expires:
            data, expires, status = render_enrollment(m, self.ctx)
            m.enr, m.enr_expires, m.enr_status = msgspec.json.encode(data), expires, status
            m.enr_epoch = self._epoch
        return m.enr

    def details_bytes(self, m: MeterState) -> bytes:
        """The details JSON for `m` (cached until it changes)."""
        if m.det is None or m.det_epoch != self._epoch:
            m.det, m.det_epoch = msgspec.json.encode(render_details(m, self.ctx)), self._epoch
        return m.det

    def warm(self) -> None:
        """Render and cache every meter now, so the first full fetch runs at cached speed."""
        with self.lock:
            for m in self._meters:
                self.details_bytes(m)
                self.enrollment_bytes(m)

    def global_status(self, m: MeterState) -> str:
        """The meter's global_enrollment_status now."""
        self.enrollment_bytes(m)
        return m.enr_status

    def set_send_nulls(self, send_nulls: bool) -> None:
        """Switch between leaving absent fields out (schemas) and sending nulls (guide examples)."""
        with self.lock:
            self._send_nulls = send_nulls
            self._epoch += 1
            self._set_clock(self._now)

    # --- search ----------------------------------------------------------------------------

    def search(self, f: MeterFilter, render: Callable[[MeterState], bytes]) -> bytes:
        """One page of search results as JSON bytes; TokenError for a bad page token."""
        last = self.tokens.read(f.page_token, f.fingerprint) if f.page_token else -1
        page: list[MeterState] = []
        more = False
        for m in self._candidates(f, last):
            if matches(f, m, self.global_status):
                if len(page) == f.page_size:
                    more = True
                    break
                page.append(m)
        body = b'{"meters":[' + b",".join(render(m) for m in page) + b"]"
        if more:
            token = self.tokens.issue(page[-1].seq, f.fingerprint)
            body += b',"next_page_token":"' + token.encode() + b'"'
        return body + b"}"

    def _candidates(self, f: MeterFilter, last: int) -> Iterator[MeterState]:
        ids = f.sets.get("meter_ids")
        if ids is not None:
            found = (self._by_id.get(i) for i in ids)
            return iter(sorted((m for m in found if m and m.seq > last), key=_seq))
        refs = f.sets.get("partner_references")
        if refs is not None:
            found_refs = {m.seq: m for r in refs for m in self._by_ref.get(r, ()) if m.seq > last}
            return iter([found_refs[s] for s in sorted(found_refs)])
        return islice(self._meters, last + 1, None)

    # --- control API -----------------------------------------------------------------------

    def faults(self, rate: float, kinds: list[str] | None = None, seed: int = 0) -> None:
        """Inject faults into API routes at `rate` (0 clears); kinds from faults.FAULT_KINDS."""
        self.fault_plan.configure(rate, kinds, seed)

    def mutate(self, fraction: float, seed: int) -> dict[str, Any]:
        """Change about `fraction` of the meters (see mutations.py); return a report.

        Changes Leap announces by webhook are then emitted to the subscriptions (see webhooks.py).
        """
        changed: list[tuple[MeterState, str]] = []
        with self.lock:
            report = apply_mutations(self, fraction, seed, changed)
            events = events_for(self, changed) if self.webhooks.subscriptions else []
        for event_type, fields in events:
            self.webhooks.emit(event_type, fields)
        return report

    def truth(self) -> dict[str, dict[str, Any]]:
        """Every meter as the API returns it now: {meter_id: {"details": ..., "enrollment": ...}}."""
        with self.lock:
            return {
                m.meter_id: {
                    "details": msgspec.json.decode(self.details_bytes(m)),
                    "enrollment": msgspec.json.decode(self.enrollment_bytes(m)),
                }
                for m in self._meters
            }

    def truth_page(self, offset: int, limit: int) -> bytes:
        """A slice of truth() as JSON bytes, joined from the cached renderings."""
        with self.lock:
            chunk = self._meters[offset : offset + limit]
            items = [
                b'"%s":{"details":%s,"enrollment":%s}'
                % (m.meter_id.encode(), self.details_bytes(m), self.enrollment_bytes(m))
                for m in chunk
            ]
            body = b'{"meters":{' + b",".join(items) + b"}"
            if offset + limit < len(self._meters):
                body += b',"next_offset":%d' % (offset + limit)
            return body + b"}"

    def state(self) -> dict[str, Any]:
        """Clock, meter count and fault configuration."""
        return {
            "now": fmt_us(self._now),
            "meters": len(self._meters),
            "seed": self.seed,
            "send_nulls": self._send_nulls,
            "faults": self.fault_plan.describe(),
        }

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Serve one request. Raises faults.InjectedFault for 'slow' and 'dropped' faults."""
        return dispatch(self, method, path, headers, body)

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport that serves requests in-process, without sockets."""
        return SimulatorTransport(self)


def _seq(m: MeterState) -> int:
    return m.seq


_REGIONS = ("CAISO", "ERCOT", "NYISO", "ISONE", "PJM", "SERC", "WECC_SW", "WECC_PC")
