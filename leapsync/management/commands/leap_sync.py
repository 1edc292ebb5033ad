"""Run a sync against Leap (or the simulator) from the command line.

Exit codes: 0 every stream ran; 1 a run failed (or bad arguments); 3 a stream was skipped
because another run held it (nothing failed, but nothing was synced for that stream either,
so a cron wrapper or monitor must not read it as success).

`--full --ranges K` splits each stream's full run into K created-date ranges queued as tasks
for the cluster's workers (`manage.py qcluster`, on any node), and follows them to the end;
stopping the command leaves the ranges to the workers.
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
from leapsync.models import RunStatus, Stream, SyncRange, SyncRun
from leapsync.sync import ranges
from leapsync.sync.common import RunStats
from leapsync.tasks import describe
from meters.models import Meter

EXIT_FAILED = 1
EXIT_BUSY = 3
# How often a split run's ranges are looked at while the workers run them.
FOLLOW_EVERY_SECONDS = 2.0


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
        parser.add_argument(
            "--ranges",
            type=int,
            default=1,
            metavar="K",
            help="with --full: split each stream into K created-date ranges, each a task for "
            "the cluster's workers (default 1: this process syncs)",
        )

    def handle(self, *args, **options) -> None:
        if options["ranges"] < 1 or (options["ranges"] > 1 and not options["full"]):
            raise CommandError("--ranges takes a number from 1 up, and only with --full")
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
        if options["full"] and options["ranges"] > 1:
            runs = ranges.split_full(
                options["ranges"], client=client, streams=streams, trigger="command"
            )
            return self._follow(runs)
        if options["full"]:
            return sync.sync_full(streams=streams, **kwargs)
        if options["stale"]:
            return sync.sync_stale(**kwargs)
        return sync.sync_incremental(streams=streams, **kwargs)

    def _follow(self, runs: list[SyncRun]) -> list[SyncRun]:
        """Wait for split runs to close, saying each range's outcome as it comes."""
        split = [run.pk for run in runs]
        if any(run.status == RunStatus.RUNNING for run in runs) and not self._quiet:
            count = SyncRange.objects.filter(run__in=split, finished_at__isnull=True).count()
            self.stdout.write(f"{count} ranges queued for the cluster's workers (qcluster)")
        told: set[int] = set()
        while SyncRun.objects.filter(pk__in=split, status=RunStatus.RUNNING).exists():
            self._tell_ended(split, told)
            time.sleep(FOLLOW_EVERY_SECONDS)
        self._tell_ended(split, told)
        return [SyncRun.objects.get(pk=run.pk) for run in runs]

    def _tell_ended(self, run_pks: list[int], told: set[int]) -> None:
        ended = SyncRange.objects.filter(run__in=run_pks, finished_at__isnull=False)
        for part in ended.exclude(pk__in=told).select_related("run"):
            told.add(part.pk)
            if not self._quiet:
                self.stdout.write(
                    f"{part.run.stream} {part} {ranges.describe_dates(part)}: "
                    f"{part.pages} pages, {part.meters_seen} meters"
                )

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
