"""LeapSimulator: simulated clock, rendering and its caches, search and the control API."""

from __future__ import annotations

import hashlib
import threading
from array import array
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec

from .cache import RAW_BUDGET, JsonCache
from .details import render_details
from .drift import add_drift
from .enrollment import RenderContext, render_enrollment
from .events import events_for
from .faults import FaultPlan
from .filters import MeterFilter, matches
from .generate import generate_meter
from .mutations import apply_mutations
from .paging import PageTokens
from .routes import dispatch
from .state import ACTIVE, STATUS_RANK, MeterState
from .store import MeterStore, MetersView, from_us, to_us
from .timeutil import DEFAULT_START, fmt_us, next_month_start_everywhere, region_month
from .transport import SimulatorTransport
from .webhooks import WebhookHub

STAMP_STEP = timedelta(microseconds=1)


class LeapSimulator:
    """A deterministic, in-memory fake of Leap's Meters V2 API.

    Meters are generated from (seed, sequence number) when needed (see store.py); each meter's
    JSON is cached (see cache.py) until it changes or the clock makes it change. The clock moves
    only when told.
    """

    def __init__(
        self,
        meters: int = 1000,
        seed: int = 1,
        api_key: str = "test-key",
        start: datetime | None = None,
        send_nulls: bool = False,
        drift: bool = False,
        raw_json_budget: int = RAW_BUDGET,
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
        self._drift = drift
        self._set_clock((start or DEFAULT_START).astimezone(UTC))
        self._store = MeterStore(seed, meters, self._now)
        self._details = JsonCache(raw_json_budget)
        self._enrollments = JsonCache(raw_json_budget)
        self._enr_expires = array("d")
        self._enr_status = bytearray()
        self._grow()
        self._last_stamp: datetime | None = None  # the newest updated_at, drawn when first needed

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
                self._forget_renderings()  # cached renderings only know how to expire forwards
            self._set_clock(when.astimezone(UTC))
            return self._now

    def rollover(self) -> datetime:
        """Jump to the start of next month in every region; updated_at does not move."""
        with self.lock:
            self._set_clock(next_month_start_everywhere(self._now))
            return self._now

    def stamp(self) -> datetime:
        """A new updated_at: the clock, but always later than every stamp handed out before."""
        if self._last_stamp is None:
            newest = max(self._store.instants()[1], default=None)
            self._last_stamp = self._now if newest is None else from_us(newest)
        self._last_stamp = max(self._now, self._last_stamp + STAMP_STEP)
        return self._last_stamp

    # --- store -----------------------------------------------------------------------------

    def _grow(self) -> None:
        size = len(self._store)
        self._details.grow(size)
        self._enrollments.grow(size)
        self._enr_expires.extend([0.0] * (size - len(self._enr_expires)))
        self._enr_status.extend(bytes(size - len(self._enr_status)))

    def add_meter(self) -> MeterState:
        """Create the next meter, as if it had just been created at Leap."""
        m = generate_meter(self.seed, len(self._store), self._now)
        m.created_at = m.updated_at = self.stamp()
        m.participation = m.participation[-1:]
        m.participation[0].preference, m.participation[0].reason = "PARTICIPATE", None
        m.participation[0].start = self._now.strftime("%Y-%m-%dT%H:%M:%SZ")
        self._store.add(m)
        self._grow()
        return m

    def find_seq(self, meter_id: str) -> int | None:
        """The sequence number of the meter with this id (any case), or None."""
        return self._store.find(meter_id.lower())

    def find(self, meter_id: str) -> MeterState | None:
        """The meter with this id (any case), or None; it is kept, so it may be changed."""
        seq = self.find_seq(meter_id)
        return None if seq is None else self._store.keep(seq)

    def meters(self) -> Sequence[MeterState]:
        """All meter states in sequence order (do not mutate without touch())."""
        return MetersView(self._store)

    def touch(self, m: MeterState) -> None:
        """Record a change to `m`: new updated_at from the clock, caches dropped."""
        m.updated_at = self.stamp()
        self._store.touched(m)
        self._details.drop(m.seq)
        self._enrollments.drop(m.seq)

    def set_partner_reference(self, m: MeterState, value: str | None) -> bool:
        """Change a meter's partner_reference; False (and no update) when it is unchanged."""
        if m.partner_reference == value:
            return False
        self._store.set_reference(m, value)
        self.touch(m)
        return True

    def meter_ids(self) -> list[str]:
        """Every meter id, in sequence (page) order."""
        return [self._store.meter_id(seq) for seq in range(len(self._store))]

    # --- rendering -------------------------------------------------------------------------

    def _encode(self, data: dict[str, Any]) -> bytes:
        """The one place a meter's objects become JSON (schema drift hooks in here)."""
        return msgspec.json.encode(add_drift(data) if self._drift else data)

    def details_json(self, seq: int, m: MeterState | None = None) -> bytes:
        """The details JSON of meter `seq` (cached until it changes)."""
        data = self._details.get(seq)
        if data is None:
            generated = m is None and not self._store.is_kept(seq)
            m = m or self._store.get(seq)
            data = self._encode(render_details(m, self.ctx))
            self._details.put(seq, data)
            if generated and not self._enrollments.has(seq):
                self.enrollment_json(seq, m)  # the enrollment pass would generate it again
        return data

    def enrollment_json(self, seq: int, m: MeterState | None = None) -> bytes:
        """The enrollment JSON of meter `seq` now (cached until it changes or expires)."""
        data = self._enrollments.get(seq) if self._now_ts < self._enr_expires[seq] else None
        if data is None:
            generated = m is None and not self._store.is_kept(seq)
            m = m or self._store.get(seq)
            rendered, expires, status = render_enrollment(m, self.ctx)
            data = self._encode(rendered)
            self._enrollments.put(seq, data)
            self._enr_expires[seq] = expires
            self._enr_status[seq] = _STATUS_CODE[status]
            if generated and not self._details.has(seq):
                self.details_json(seq, m)
        return data

    def enrollment_bytes(self, m: MeterState) -> bytes:
        """The enrollment JSON for `m` now (cached until it changes or expires)."""
        return self.enrollment_json(m.seq, m)

    def details_bytes(self, m: MeterState) -> bytes:
        """The details JSON for `m` (cached until it changes)."""
        return self.details_json(m.seq, m)

    def warm(self) -> None:
        """Render and cache every meter now, so the first full fetch runs at cached speed."""
        with self.lock:
            for seq in range(len(self._store)):
                self.details_json(seq)
                self.enrollment_json(seq)

    def global_status(self, m: MeterState) -> str:
        """The meter's global_enrollment_status now."""
        self.enrollment_json(m.seq, m)
        return _STATUSES[self._enr_status[m.seq]]

    def _forget_renderings(self) -> None:
        self._details.clear()
        self._enrollments.clear()

    def set_send_nulls(self, send_nulls: bool) -> None:
        """Switch between leaving absent fields out (schemas) and sending nulls (guide examples)."""
        with self.lock:
            self._send_nulls = send_nulls
            self._forget_renderings()
            self._set_clock(self._now)

    def set_drift(self, drift: bool) -> None:
        """Switch schema drift on or off: one unknown field in every object (see drift.py)."""
        with self.lock:
            self._drift = drift
            self._forget_renderings()

    # --- search ----------------------------------------------------------------------------

    def search(self, f: MeterFilter, render: Callable[[int], bytes]) -> bytes:
        """One page of search results as JSON bytes; TokenError for a bad page token."""
        last = self.tokens.read(f.page_token, f.fingerprint) if f.page_token else -1
        in_range = self._date_check(f)
        page: list[int] = []
        more = False
        for seq in self._candidates(f, last):
            if in_range(seq) and (not f.needs_meter or self._matches(f, seq)):
                if len(page) == f.page_size:
                    more = True
                    break
                page.append(seq)
        body = b'{"meters":[' + b",".join(render(seq) for seq in page) + b"]"
        if more:
            token = self.tokens.issue(page[-1], f.fingerprint)
            body += b',"next_page_token":"' + token.encode() + b'"'
        return body + b"}"

    def _date_check(self, f: MeterFilter) -> Callable[[int], bool]:
        """The filter's date conditions on a seq, from the stored instants (no meter needed)."""
        if not f.dates:
            return _always
        created, updated = self._store.instants()
        bounds = {name: to_us(value) for name, value in f.dates.items()}
        since = bounds.get("last_modified_date_time")
        after = bounds.get("created_after_date_time")
        before = bounds.get("created_before_date_time")

        def check(seq: int) -> bool:
            return (
                (since is None or updated[seq] > since)
                and (after is None or created[seq] > after)
                and (before is None or created[seq] < before)
            )

        return check

    def _matches(self, f: MeterFilter, seq: int) -> bool:
        return matches(f, self._store.get(seq), self.global_status)

    def _candidates(self, f: MeterFilter, last: int) -> Iterable[int]:
        ids = f.sets.get("meter_ids")
        if ids is not None:
            found = (self._store.find(i) for i in ids)
            return sorted(seq for seq in found if seq is not None and seq > last)
        refs = f.sets.get("partner_references")
        if refs is not None:
            return sorted(seq for seq in self._store.with_references(refs) if seq > last)
        return range(last + 1, len(self._store))

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
                self._store.meter_id(seq): {
                    "details": msgspec.json.decode(self.details_json(seq)),
                    "enrollment": msgspec.json.decode(self.enrollment_json(seq)),
                }
                for seq in range(len(self._store))
            }

    def truth_page(self, offset: int, limit: int) -> bytes:
        """A slice of truth() as JSON bytes, joined from the cached renderings."""
        with self.lock:
            items = [
                b'"%s":{"details":%s,"enrollment":%s}'
                % (
                    self._store.meter_id(seq).encode(),
                    self.details_json(seq),
                    self.enrollment_json(seq),
                )
                for seq in range(offset, min(offset + limit, len(self._store)))
            ]
            body = b'{"meters":{' + b",".join(items) + b"}"
            if offset + limit < len(self._store):
                body += b',"next_offset":%d' % (offset + limit)
            return body + b"}"

    def state(self) -> dict[str, Any]:
        """Clock, meter counts (all, and held as state), switches and fault configuration."""
        return {
            "now": fmt_us(self._now),
            "meters": len(self._store),
            "meters_in_memory": self._store.kept(),
            "seed": self.seed,
            "send_nulls": self._send_nulls,
            "drift": self._drift,
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


def _always(seq: int) -> bool:
    return True


_REGIONS = ("CAISO", "ERCOT", "NYISO", "ISONE", "PJM", "SERC", "WECC_SW", "WECC_PC")
_STATUSES = (ACTIVE, *STATUS_RANK)
_STATUS_CODE = {status: code for code, status in enumerate(_STATUSES)}
