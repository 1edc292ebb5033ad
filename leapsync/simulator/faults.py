"""Fault injection for API routes: rate-limited, failing, slow, truncated and dropped responses."""

from __future__ import annotations

import random
import threading

import msgspec

FAULT_KINDS = ("429", "500", "503", "slow", "truncated", "dropped")
INTERNAL_ERROR = msgspec.json.encode("An error happened whilst processing your request")


class InjectedFault(Exception):
    """A fault the carrier (transport or server) must act out: 'slow' or 'dropped'."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class FaultPlan:
    """Decides, per API request, whether and which fault to inject. Deterministic per seed."""

    def __init__(self) -> None:
        self.rate = 0.0
        self.kinds: tuple[str, ...] = FAULT_KINDS
        self._rng = random.Random(0)
        self._lock = threading.Lock()

    def configure(self, rate: float, kinds: list[str] | None, seed: int) -> None:
        """Set the fault rate (0 clears) and the kinds drawn from; ValueError on bad input."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        chosen = tuple(kinds) if kinds else FAULT_KINDS
        unknown = [k for k in chosen if k not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds: {unknown}; known: {list(FAULT_KINDS)}")
        self.rate, self.kinds, self._rng = rate, chosen, random.Random(seed)

    def draw(self) -> str | None:
        """The fault for the next request, or None."""
        if self.rate <= 0.0:
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            return self._rng.choice(self.kinds)

    def describe(self) -> dict[str, object]:
        """Current configuration, for the state route."""
        return {"rate": self.rate, "kinds": list(self.kinds)}


def fault_response(kind: str) -> tuple[int, dict[str, str], bytes] | None:
    """The HTTP response for status-code faults; None for faults acted out by the carrier."""
    json_headers = {"Content-Type": "application/json"}
    if kind == "429":
        body = {"title": "Too Many Requests", "status": 429, "details": {}}
        return 429, {**json_headers, "Retry-After": "1"}, msgspec.json.encode(body)
    if kind == "503":
        body = {"title": "Service Unavailable", "status": 503, "details": {}}
        return 503, {**json_headers, "Retry-After": "2"}, msgspec.json.encode(body)
    if kind == "500":
        return 500, json_headers, INTERNAL_ERROR
    return None
