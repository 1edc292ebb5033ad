"""An httpx transport that serves requests from a LeapSimulator in-process, without sockets."""

from __future__ import annotations

import httpx

from .faults import InjectedFault
from .protocol import Simulator


class SimulatorTransport(httpx.BaseTransport):
    """Acts out faults the way a socket would fail: 'slow' times out, 'dropped' breaks protocol."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Serve `request` from the simulator."""
        body = request.read()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw}
        target = request.url.raw_path.decode("ascii")
        try:
            status, out_headers, payload = self.simulator.handle(
                request.method, target, headers, body
            )
        except InjectedFault as fault:
            if fault.kind == "slow":
                raise httpx.ReadTimeout("simulated slow response", request=request) from None
            raise httpx.RemoteProtocolError(
                "simulated dropped connection", request=request
            ) from None
        return httpx.Response(status, headers=out_headers, content=payload, request=request)
