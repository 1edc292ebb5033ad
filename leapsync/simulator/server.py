"""The simulator as a standalone HTTP/1.1 server (stdlib, threaded, keep-alive)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from .faults import InjectedFault
from .routes import dispatch

if TYPE_CHECKING:
    from .core import LeapSimulator

log = logging.getLogger(__name__)


class SimulatorServer(ThreadingHTTPServer):
    """A threaded server bound to one simulator; `url` is its base URL."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, simulator: LeapSimulator, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
        self.simulator = simulator
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:8765."""
        host, port = self.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving (and delivering webhooks) and release the socket."""
        self.simulator.webhooks.stop()
        self.shutdown()
        self.server_close()


def serve(simulator: LeapSimulator, host: str = "127.0.0.1", port: int = 8765) -> SimulatorServer:
    """Bind (port 0 picks a free one) and start serving in a daemon thread; call stop() to end."""
    server = SimulatorServer(simulator, host, port)
    server.thread = threading.Thread(
        target=server.serve_forever, name="leap-simulator", daemon=True
    )
    server.thread.start()
    simulator.webhooks.start()  # served: webhooks go out over HTTP from a background thread
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    server: SimulatorServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = dict(self.headers.items())
        simulator = self.server.simulator
        try:
            status, out, payload = simulator.handle(self.command, self.path, headers, body)
        except InjectedFault as fault:
            if fault.kind == "dropped":
                self._drop()
                return
            time.sleep(simulator.slow_seconds)
            status, out, payload = dispatch(
                simulator, self.command, self.path, headers, body, False
            )
        self._write(status, out, payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _write(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        announced = int(headers.pop("Content-Length", len(payload)))
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Content-Length: {announced}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if announced != len(payload):
            lines.append("Connection: close")  # a truncated body: cut the connection after it
            self.close_connection = True
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + payload)
        self.log_request(status, len(payload))
