"""A deterministic fake of Leap's Meters V2 API, for the demo, the test-suite and benchmarks.

Plain Python (httpx, msgspec): no Django. Use `LeapSimulator(...).transport()` in-process, or
`serve(simulator, host, port)` for a real HTTP server (the `leap_simulator` command does that).
"""

from .core import LeapSimulator
from .faults import FAULT_KINDS, InjectedFault
from .server import SimulatorServer, serve

__all__ = ["FAULT_KINDS", "InjectedFault", "LeapSimulator", "SimulatorServer", "serve"]
