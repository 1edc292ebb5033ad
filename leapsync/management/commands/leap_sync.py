"""Run a sync against Leap (or the simulator) from the command line.

Exit codes: 0 every stream ran; 1 a run failed (or bad arguments); 3 a stream was skipped
because another run held it (nothing failed, but nothing was synced for that stream either,
so a cron wrapper or monitor must not read it as success).
"""

from __future__ import annotations

import signal
import sys
import time
import uuid
from types import FrameType

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from leapsync import sync
from leapsync.leap.client import LeapClient
from leapsync.models import RunStatus, Stream, SyncRun
from leapsync.sync.common import RunStats
from leapsync.tasks import describe
from meters.models import Meter

EXIT_FAILED = 1
EXIT_BUSY = 3


class Command(BaseCommand):
    help = (
        "Sync meters from Leap: --full, --incremental (default), --stale, or --meter ID... "
        "Leap's address and key come from LEAP_BASE_URL / LEAP_API_KEY. Exits 1 when a run "
        "failed, 3 when a stream was skipped because another run held it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        modes = parser.add_mutually_exclusive_group()
        modes.add_argument("--full", action="store_true", help="every meter, both streams")
        modes.add_argument("--incremental", action="store_true", help="changes since the cursor")
        modes.add_argument("--stale", action="store_true", help="meters whose periods rolled over")
        modes.add_argument("--meter", nargs="+", metavar="ID", help="re-read these meter_ids")
        parser.add_argument(
            "--stream", choices=[s.value for s in Stream], help="only this stream (default: both)"
        )

    def handle(self, *args, **options) -> None:
        streams = [options["stream"]] if options["stream"] else list(sync.STREAMS)
        self._quiet = options["verbosity"] == 0
        self._bars: dict[int, tqdm] = {}
        self._started = time.monotonic()
        try:
            client = LeapClient.from_settings()
        except ValueError as error:
            raise CommandError(f"Leap client not configured: {error}") from None
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        with client:
            runs = self._dispatch(options, client, streams)
        for bar in self._bars.values():
            bar.close()
        self._report(runs, options["verbosity"])

    def _dispatch(self, options: dict, client: LeapClient, streams: list[str]) -> list[SyncRun]:
        kwargs = {"client": client, "trigger": "command", "progress": self._progress}
        if options["meter"]:
            ids = [_meter_id(value) for value in options["meter"]]
            return sync.sync_refresh(ids, streams=streams, **kwargs)
        if options["full"]:
            return sync.sync_full(streams=streams, **kwargs)
        if options["stale"]:
            return sync.sync_stale(**kwargs)
        return sync.sync_incremental(streams=streams, **kwargs)

    def _progress(self, run: SyncRun, stats: RunStats) -> None:
        if self._quiet:
            return
        if sys.stderr.isatty():
            self._bar(run).update(1)
            self._bar(run).set_postfix(
                meters=stats.meters_seen, changed=stats.created + stats.updated
            )
        elif stats.pages % 20 == 0:
            rate = stats.meters_seen / max(time.monotonic() - self._started, 1e-6)
            self.stdout.write(
                f"{run.stream}: page {stats.pages}, {stats.meters_seen} meters, {rate:,.0f}/s"
            )

    def _bar(self, run: SyncRun) -> tqdm:
        if run.pk not in self._bars:
            # Leap reports no total; the stored meter count estimates the pages of a full run.
            expected = Meter.objects.count() if run.mode == "full" else None
            total = -(-expected // 500) if expected else None
            # One line per stream: the streams may run at once, in two processes.
            position = list(sync.STREAMS).index(run.stream)
            self._bars[run.pk] = tqdm(
                total=total, desc=f"{run.mode} {run.stream}", unit="page", position=position
            )
        return self._bars[run.pk]

    def _report(self, runs: list[SyncRun], verbosity: int) -> None:
        failed = [run for run in runs if run.status == RunStatus.FAILED]
        skipped = [run for run in runs if run.status == RunStatus.SKIPPED]
        for run in runs:
            if run.status == RunStatus.SKIPPED:
                self.stderr.write(self.style.WARNING(describe(run)))
            elif run.status == RunStatus.SUCCEEDED and verbosity:
                self.stdout.write(self.style.SUCCESS(describe(run)))
                for message, count in list(run.warnings.items())[: 10 if verbosity < 2 else None]:
                    self.stdout.write(f"  warning x{count}: {message}")
        if failed:
            raise CommandError("; ".join(describe(run) for run in failed), returncode=EXIT_FAILED)
        if skipped:
            streams = " and ".join(run.stream for run in skipped)
            raise CommandError(
                f"skipped {streams}: another run holds the stream", returncode=EXIT_BUSY
            )


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the run like Ctrl-C does: it is recorded failed and its lock let go."""
    raise SystemExit("stopped by SIGTERM")


def _meter_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CommandError(f"not a meter_id (UUID): {value!r}") from None
