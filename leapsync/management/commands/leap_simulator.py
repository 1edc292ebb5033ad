"""Serve the Leap Meters V2 simulator over HTTP for the demo and benchmarks."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import pluralize

from leapsync.simulator import LeapSimulator, serve
from leapsync.simulator.timeutil import parse_rfc3339


def _start(value: str) -> datetime:
    if value == "now":
        return datetime.now(UTC).replace(microsecond=0)
    parsed = parse_rfc3339(value)
    if parsed is None:
        raise CommandError(f"--start must be 'now' or an RFC 3339 date-time, not {value!r}")
    return parsed


class Command(BaseCommand):
    help = "Serve a deterministic fake of Leap's Meters V2 API (plus /_simulator/ controls)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--meters", type=int, default=1000, help="number of meters")
        parser.add_argument("--seed", type=int, default=1, help="data seed")
        parser.add_argument("--port", type=int, default=settings.SIMULATOR_PORT)
        parser.add_argument("--host", default="127.0.0.1", help="listen address")
        parser.add_argument("--api-key", default=None, help="bearer key (default from settings)")
        parser.add_argument("--send-nulls", action="store_true", help="send absent fields as null")
        parser.add_argument("--start", default="now", help="clock start: 'now' or ISO date-time")
        parser.add_argument(
            "--warm",
            action="store_true",
            help="render every meter before serving (else each is rendered on its first fetch)",
        )
        parser.add_argument(
            "--drift",
            action="store_true",
            help="schema drift: add one unknown field to every object of every meter",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["meters"] < 0:
            raise CommandError("--meters must not be negative")
        api_key = options["api_key"] or settings.LEAP_API_KEY or settings.SIMULATOR_DEV_API_KEY
        began = time.perf_counter()
        simulator = LeapSimulator(
            meters=options["meters"],
            seed=options["seed"],
            api_key=api_key,
            start=_start(options["start"]),
            send_nulls=options["send_nulls"],
            drift=options["drift"],
        )
        if options["warm"]:
            simulator.warm()
        elapsed = time.perf_counter() - began
        try:
            server = serve(simulator, options["host"], options["port"])
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Leap simulator: {options['meters']} meter{pluralize(options['meters'])} "
                f"(seed {options['seed']}) ready in "
                f"{elapsed:.1f} s, clock {simulator.now.isoformat()}, serving {server.url}"
            )
        )
        try:
            server.thread.join()
        except KeyboardInterrupt:
            self.stdout.write("Stopping.")
        finally:
            server.stop()
