"""Page benchmark: server time of the staff UI's pages on N synced meters in PostgreSQL.

Seeds the database the way production fills it: the simulator as a separate HTTP server and
`leap_sync --full` (DEBUG off). Then, in this process, Django's test Client signed in as an
Operations user requests each page (after warm-up requests) and records the wall time of each
request: URL resolution, middleware, views, queries and template rendering, no network. Django
admin's changelist for Meter is measured in the same run, on the same data, for comparison.
Results (p50/p95 per page, queries per request, load average) are appended to
docs/benchmarks.md with the machine and the date.

With `--events N`, the history table is first topped up to N events (synthetic ones, spread
over the meters, kinds, programs and the past year, a few by a person), as years of syncs and
staff work would leave it; the change log's pages are then measured on it, and its CSV export
streamed whole with the process's peak memory before and after.

The API's list endpoints are measured the same way, with a token holding the read scope.

With `--scale-from NAME`, the database is not seeded through the simulator: it is created as a
copy of database NAME (one this script seeded, say with 100,000 meters) and every synced row is
multiplied in SQL up to `--meters` (a whole multiple of NAME's meters). Each copy of a meter has
a new meter_id and primary key, and its own copies of its enrollment, delivery periods,
deadlines, participation, required actions and history, every foreign key pointing inside the
copy; its partner_reference and account number get a suffix (so neither is shared by the
copies), its Leap dates and its history move back by weeks, and one meter in five gets
another global status.
Names, addresses and their accents are the original's, so a surname is as common per meter as
in the seeded data. Minutes where the simulator takes an hour and many GB at a million meters.

Usage: python scripts/bench_pages.py [--meters 100000] [--events 10000000] [--requests 30] [--reuse]
       python scripts/bench_pages.py --meters 1000000 --scale-from NAME --database-url URL
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchlib import (
    ROOT,
    free_port,
    machine_line,
    manage,
    recreate_database,
    running_simulator,
    sync_environment,
)

TARGET_MS = 150.0


def main() -> None:
    args = _arguments()
    env = _environment(args)
    if args.scale_from:
        recreate_database(args.database_url, template=args.scale_from)
        manage(env, "migrate", "--noinput", "-v", "0")
    elif not args.reuse:
        recreate_database(args.database_url)
        manage(env, "migrate", "--noinput", "-v", "0")
        _seed(args, env)
    manage(env, "collectstatic", "--noinput", "-v", "0")
    os.environ.update(env)
    _setup_django()
    if args.scale_from:
        _multiply(args.meters)
    results = _measure(args)
    _report(args, results)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=30, help="measured requests per page")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured requests per page")
    parser.add_argument("--port", type=int, default=0, help="simulator port; 0 picks a free one")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leapsync_bench_pages"
        ),
    )
    parser.add_argument(
        "--reuse", action="store_true", help="measure the database as it is (no re-seeding)"
    )
    parser.add_argument(
        "--scale-from",
        default="",
        metavar="NAME",
        help="copy database NAME and multiply its synced rows up to --meters (no simulator)",
    )
    parser.add_argument(
        "--events", type=int, default=0, help="top the history up to this many events first"
    )
    parser.add_argument(
        "--only", default="", help="measure only the pages whose label contains this text"
    )
    parser.add_argument(
        "--no-export",
        action="store_true",
        help="skip the CSV exports of all meters (and, with --events, of the whole log)",
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--no-report", action="store_true", help="print only")
    args = parser.parse_args()
    args.port = args.port or free_port()
    return args


def _environment(args: argparse.Namespace) -> dict[str, str]:
    return {
        **sync_environment(args.database_url, args.port),
        "ALLOWED_HOSTS": "localhost,testserver",  # testserver: Django's test Client
        # The API's pages are measured one request after another: no per-token limit.
        "API_RATE_PER_MINUTE": "1000000",
        # Production serves hashed static files from a collectstatic run; so does the bench.
        "STATIC_ROOT": str(Path(tempfile.gettempdir()) / "leapsync-bench-static"),
    }


def _seed(args: argparse.Namespace, env: dict[str, str]) -> None:
    """The simulator as an HTTP server, a full sync of both streams, the simulator stopped."""
    with running_simulator(env, port=args.port, meters=args.meters, seed=args.seed):
        started = time.monotonic()
        manage(env, "leap_sync", "--full", "-v", "0")
        print(f"leap_sync --full: {time.monotonic() - started:.0f} s")


def _pages() -> list[tuple[str, str, str]]:
    """(label, who, url) for every measured page; `who` is "ops" or "admin"."""
    from django.db.models import Count

    from actions.models import RequiredAction
    from leapsync.leap.enums import EnrollmentStatus
    from leapsync.lib.search import fold
    from meters.models import Meter

    sample = Meter.objects.exclude(end_customer_name="").order_by("meter_id")[500:501].get()
    surname = sample.end_customer_name.split()[-1]
    meters = "/meters/"
    accented = _accented_surname()
    unaccented = fold(accented)
    # Three filters, a search typed without its accents and a sort: what one person narrows
    # a million meters to.
    narrowed = (
        f"{meters}?global_status=ACTIVE&region=PJM&meter_type=UTILITY_METER"
        f"&q={unaccented}&sort=-leap_updated_at"
    )
    busiest = (
        RequiredAction.objects.open()
        .values("meter__meter_id")
        .annotate(n=Count("pk"))
        .order_by("-n", "meter__meter_id")[0]["meter__meter_id"]
    )
    return [
        ("dashboard", "ops", "/"),
        ("trends", "ops", "/trends/"),
        ("meters list, default", "ops", meters),
        ("meters list, global status ACTIVE", "ops", f"{meters}?global_status=ACTIVE"),
        (
            "meters list, region PJM + utility meters",
            "ops",
            f"{meters}?region=PJM&meter_type=UTILITY_METER",
        ),
        ("meters list, open partner action", "ops", f"{meters}?open_action=true"),
        (
            "meters list, program status ACTIVE",
            "ops",
            f"{meters}?program_status={EnrollmentStatus.ACTIVE}",
        ),
        (f"meters list, text search “{surname}”", "ops", f"{meters}?q={surname}"),
        # No match: every row is read, the worst case of the ten-field icontains search.
        ("meters list, text search, no match", "ops", f"{meters}?q=zz-no-such-meter"),
        ("meters list, sorted by Leap updated (newest)", "ops", f"{meters}?sort=-leap_updated_at"),
        ("meters list, page 200", "ops", f"{meters}?page=200"),
        ("meters list, last page", "ops", f"{meters}?page=last"),
        (
            f"meters list, search “{unaccented}” (finds “{accented}”)",
            "ops",
            f"{meters}?q={unaccented}",
        ),
        ("meters list, 3 filters + search + sort", "ops", narrowed),
        ("meters list, 3 filters + search + sort, last page", "ops", f"{narrowed}&page=last"),
        (
            "meters list, global status ACTIVE, last page",
            "ops",
            f"{meters}?global_status=ACTIVE&page=last",
        ),
        ("meter page (most open actions)", "ops", f"{meters}{busiest}/"),
        ("meter page (typical)", "ops", f"{meters}{sample.meter_id}/"),
        # Tables rendered cell by cell by django-tables2 (the meters list builds its own cells).
        ("actions inbox", "ops", "/actions/"),
        ("participation changes", "ops", "/enrollments/participation/"),
        ("sync runs", "ops", "/sync/"),
        *_api_pages(sample.meter_id),
        ("admin changelist, Meter", "admin", "/admin/meters/meter/"),
        ("admin changelist, Meter, search", "admin", f"/admin/meters/meter/?q={surname}"),
        (
            "admin changelist, Meter, filter region",
            "admin",
            "/admin/meters/meter/?transmission_region__exact=PJM",
        ),
    ]


def _accented_surname() -> str:
    """The most common customer surname with an accent among 20,000 meters (searched for
    typed without it)."""
    from collections import Counter

    from meters.models import Meter

    names = Meter.objects.exclude(end_customer_name="").order_by("pk")
    surnames = Counter(
        n.split()[-1] for n in names.values_list("end_customer_name", flat=True)[:20_000]
    )
    return next((n for n, _ in surnames.most_common() if not n.isascii()), "Lévesque")


def _api_pages(meter_id: object) -> list[tuple[str, str, str]]:
    """The API's lists (a token with the read scope): first pages, a deep page, filters."""
    from meters.models import Meter

    deep = Meter.objects.order_by("pk").values_list("pk", flat=True)[50_000:50_001].first()
    cursor = _cursor(deep) if deep else ""
    return [
        ("API meters, first page", "api", "/api/v1/meters/"),
        ("API meters, page of 500 (the most)", "api", "/api/v1/meters/?page_size=500"),
        ("API meters, deep page (cursor)", "api", f"/api/v1/meters/?cursor={cursor}"),
        ("API meters, global status ACTIVE", "api", "/api/v1/meters/?global_status=ACTIVE"),
        ("API meters, unmapped", "api", "/api/v1/meters/?mapping=unmapped"),
        ("API meter", "api", f"/api/v1/meters/{meter_id}/"),
        ("API sites", "api", "/api/v1/sites/"),
        ("API actions", "api", "/api/v1/actions/"),
        ("API change feed, from the start", "api", "/api/v1/changes/?limit=500"),
        ("API sync status", "api", "/api/v1/sync/"),
        ("API deadlines", "api", "/api/v1/deadlines/"),
    ]


def _cursor(position: int) -> str:
    """DRF's cursor for "after this primary key" (what a `next` link carries)."""
    from base64 import b64encode
    from urllib.parse import quote

    return quote(b64encode(f"p={position}".encode()).decode())


def _clients() -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.test import Client

    call_command("setup_leapsync", verbosity=0)
    User = get_user_model()
    ops, _ = User.objects.get_or_create(username="bench-ops")
    ops.groups.add(Group.objects.get(name="Operations"))
    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    from leapsync.api import tokens
    from leapsync.api.models import ApiToken

    ApiToken.objects.filter(name="bench").delete()
    _, secret = tokens.issue("bench", ["read"])
    clients = {
        "ops": Client(),
        "admin": Client(),
        "api": Client(headers={"Authorization": f"Bearer {secret}"}),
    }
    clients["ops"].force_login(ops)
    clients["admin"].force_login(admin)
    return clients


def _setup_django() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapsync.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()


def _multiplied() -> list:
    """The synced models `--scale-from` multiplies, each after the models it points to."""
    from actions.models import RequiredAction
    from enrollments.models import (
        EnrollmentDeadline,
        MeterEnrollment,
        ParticipationPeriod,
        ProgramEnrollment,
    )
    from meters.models import MatchCandidate, Meter, MeterEvent

    return [
        Meter,
        MeterEnrollment,
        ProgramEnrollment,
        EnrollmentDeadline,
        ParticipationPeriod,
        RequiredAction,
        MeterEvent,
        MatchCandidate,
    ]


# Copy k (1 .. factor - 1) of a meter row `t`: what differs from the original. Leap's dates
# move back by k weeks and a few days; partner_reference and the account number (the last
# line of search_text, which is written folded: a digit appended folds to itself) get a suffix.
_METER_COLUMNS = {
    "meter_id": "md5(t.meter_id::text || '/' || k)::uuid",
    "partner_reference": "CASE WHEN t.partner_reference = '' THEN '' "
    "ELSE t.partner_reference || '-' || k END",
    "search_reference": "CASE WHEN t.search_reference = '' THEN '' "
    "ELSE t.search_reference || '-' || k END",
    "electric_service_account_number": "CASE WHEN t.electric_service_account_number = '' "
    "THEN '' ELSE t.electric_service_account_number || k END",
    "search_text": "CASE WHEN t.electric_service_account_number = '' THEN t.search_text "
    "ELSE t.search_text || k END",
    "leap_created_at": "t.leap_created_at - {shift}",
    "leap_updated_at": "t.leap_updated_at - {shift}",
    "first_seen_at": "t.first_seen_at - {shift}",
}
# ... and its events were observed as much earlier (the meter's own id gives the shift).
_EVENT_COLUMNS = {"observed_at": "t.observed_at - (k * 7 + t.meter_id % 5) * interval '1 day'"}
_SHIFT = "(k * 7 + t.id % 5) * interval '1 day'"


def _multiply(meters: int) -> None:
    """Multiply the synced rows up to `meters` meters, in SQL (see the module's docstring)."""
    from django.db import connection, transaction

    from enrollments.models import MeterEnrollment
    from meters.models import Meter, MeterEvent

    have = Meter.objects.count()
    if not have or meters % have:
        raise SystemExit(f"--meters {meters} is no whole multiple of the {have:,} meters there")
    factor = meters // have
    started = time.monotonic()
    models = _multiplied()
    offsets = {
        m: m.objects.order_by("-pk").values_list("pk", flat=True).first() or 0 for m in models
    }
    statuses = sorted(
        set(MeterEnrollment.objects.values_list("global_enrollment_status", flat=True))
    )
    overrides = {
        Meter: {c: sql.format(shift=_SHIFT) for c, sql in _METER_COLUMNS.items()},
        MeterEvent: _EVENT_COLUMNS,
        # One enrollment in five gets another status, so status filters match other meters.
        MeterEnrollment: {
            "global_enrollment_status": "CASE WHEN (t.meter_id + k) %% 5 = 0 THEN "
            f"(%s::text[])[1 + (t.meter_id / 5 + k) %% {len(statuses)}] "
            "ELSE t.global_enrollment_status END"
        },
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        for model in models:
            columns, values = _copy_columns(model, offsets, overrides.get(model, {}))
            table = model._meta.db_table
            params = [statuses] if model is MeterEnrollment else None
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} "
                f"FROM {table} t CROSS JOIN generate_series(1, {factor - 1}) k",
                params,
            )
            print(f"{table}: {cursor.rowcount:,} rows added ({time.monotonic() - started:.0f} s)")
            if not model._meta.pk.is_relation:
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    print(f"multiplied x{factor} in {time.monotonic() - started:.0f} s", flush=True)


def _copy_columns(model, offsets: dict, overrides: dict[str, str]) -> tuple[list, list]:
    """The columns of `model`'s table and, for copy k of row t, each one's value."""
    columns, values = [], []
    for field in model._meta.concrete_fields:
        column = field.column
        target = field.related_model if field.is_relation else None
        if column in overrides:
            value = overrides[column]
        elif target in offsets:
            value = f"t.{column} + k * {offsets[target]}"
        elif field.primary_key:
            value = f"t.{column} + k * {offsets[model]}"
        else:
            value = f"t.{column}"
        columns.append(column)
        values.append(value)
    return columns, values


def _measure(args: argparse.Namespace) -> list[dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if args.events:
        _top_up_events(args.events)
    with connection.cursor() as cursor:
        # Fresh planner statistics, as autovacuum keeps them in production (a bulk sync into
        # unanalysed tables makes PostgreSQL misjudge every filter).
        cursor.execute("VACUUM ANALYZE")
    try:
        from leapsync.dashboard import store
    except ImportError:  # releases that computed whole-inventory figures in the request
        pass
    else:
        # Pages read figures the figures task stores: compute them as the task would after
        # the sync, and any a page asks for first (a roster) during its warm-up requests.
        store.REFRESH_INLINE = True
        store.refresh()
    clients = _clients()
    args.load_before = os.getloadavg()
    results = []
    pages = _pages() + (_change_log_pages() if args.events else [])
    pages = [page for page in pages if args.only in page[0]]
    for label, who, url in pages:
        client = clients[who]
        for _ in range(args.warmup):
            _get(client, url)
        with CaptureQueriesContext(connection) as captured:
            _get(client, url)
        queries = list(captured.captured_queries)  # the next request resets the log
        slowest = max(queries, key=lambda q: float(q["time"]))
        samples, cpu = [], []
        for _ in range(args.requests):
            started, cpu_started = time.perf_counter(), time.process_time()
            _get(client, url)
            samples.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
        result = {
            "label": label,
            "url": url,
            "p50": statistics.median(samples),
            "p95": _percentile(samples, 95),
            "max": max(samples),
            "cpu_p50": statistics.median(cpu),
            "sql_ms": sum(float(q["time"]) for q in queries) * 1000,
            "queries": len(queries),
            "slowest_ms": float(slowest["time"]) * 1000,
            "slowest_sql": slowest["sql"],
        }
        results.append(result)
        print(
            f"{label:<48} p50 {result['p50']:7.1f} ms  p95 {result['p95']:7.1f} ms  "
            f"cpu {result['cpu_p50']:5.1f} ms  {result['queries']:>2} queries "
            f"({result['sql_ms']:.0f} ms, slowest {result['slowest_ms']:.0f} ms)",
            flush=True,
        )
    args.cold = _dashboard_cold(clients["ops"])
    if not args.no_export:
        args.meters_export = _export_memory(clients["ops"], "/meters/export.csv", "meters")
        if args.events:
            args.export = _export_memory(clients["ops"], "/changes/export.csv", "change log")
    return results


# Synthetic history: event i belongs to meter i mod M, in time order (one a few seconds apart,
# ending now), with kinds, programs, periods and fields in the proportions a year of syncs
# leaves; one in a hundred is staff work by `bench-staff`.
_EVENTS_SQL = """
    INSERT INTO meters_meterevent (meter_id, kind, field, program_identifier, delivery_period,
        owner, action_type, action_code, old, new, observed_at, leap_updated_at, sync_run_id,
        user_id)
    SELECT m.id,
        (ARRAY['program_status','market_group','global_status','action_added',
               'action_resolved','participation','partner_reference','action_workflow'])[1 + g %% 8],
        (ARRAY['enrollment_status','market_group_id','global_enrollment_status','',
               '','participation_preferences','partner_reference','status'])[1 + g %% 8],
        CASE WHEN g %% 8 IN (2, 5, 6) THEN '' ELSE (ARRAY['PJM-CAP','NYISO-SCR','CAISO-DRAM',
               'ERCOT-ERS','ISONE-FCM'])[1 + g %% 5] END,
        CASE WHEN g %% 8 IN (0, 1) THEN 'P' || (g %% 12) ELSE '' END,
        '', '', '', 'ELIGIBLE', 'ACTIVE',
        now() - ((%(total)s - g) * interval '3 seconds'),
        NULL, NULL,
        CASE WHEN g %% 100 = 7 THEN %(user)s END
    FROM generate_series(%(start)s, %(stop)s) AS g
    JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM meters_meter) m
      ON m.n = g %% %(meters)s
"""


def _top_up_events(total: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from meters.models import Meter, MeterEvent

    have = MeterEvent.objects.count()
    if have >= total:
        return
    staff, _ = get_user_model().objects.get_or_create(username="bench-staff")
    meters = Meter.objects.count()
    started = time.monotonic()
    batch = 1_000_000
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
        for start in range(have, total, batch):
            stop = min(start + batch, total) - 1
            params = {
                "start": start,
                "stop": stop,
                "total": total,
                "user": staff.pk,
                "meters": meters,
            }
            cursor.execute(_EVENTS_SQL, params)
            print(f"history: {stop + 1:,} events ({time.monotonic() - started:.0f} s)", flush=True)


def _change_log_pages() -> list[tuple[str, str, str]]:
    from meters.models import MeterEvent

    events = MeterEvent.objects.order_by("-observed_at", "-pk")
    middle = events.values_list("pk", flat=True)[MeterEvent.objects.count() // 2]
    meter = events.values_list("meter__meter_id", flat=True).first()
    changes = "/changes/"
    return [
        ("change log, newest", "ops", changes),
        ("change log, kind market group", "ops", f"{changes}?kind=market_group"),
        ("change log, program + period", "ops", f"{changes}?program=PJM-CAP&period=P5"),
        ("change log, one person's changes", "ops", f"{changes}?user=bench-staff"),
        ("change log, one meter", "ops", f"{changes}?meter={meter}"),
        (
            "change log, a week six months ago",
            "ops",
            f"{changes}?since={_days_ago(183)}&until={_days_ago(177)}",
        ),
        ("change log, halfway down (older page)", "ops", f"{changes}?before={middle}"),
    ]


def _days_ago(days: int) -> str:
    from datetime import timedelta

    return (datetime.now(UTC) - timedelta(days=days)).date().isoformat()


def _dashboard_cold(client) -> tuple[float, float]:
    """The dashboard with its figures not stored yet: seconds of the request (which shows
    "being computed" and queues the figures task), then of computing the figures as that
    task does."""
    from leapsync.dashboard import store
    from leapsync.dashboard.models import FigureSet

    FigureSet.objects.filter(name=store.DASHBOARD).delete()
    store.REFRESH_INLINE = False
    started = time.perf_counter()
    _get(client, "/")
    page = time.perf_counter() - started
    store.REFRESH_INLINE = True
    started = time.perf_counter()
    store.refresh([store.DASHBOARD])
    computed = time.perf_counter() - started
    print(
        f"dashboard, cold: the page {page * 1000:.0f} ms, its figures {computed:.1f} s", flush=True
    )
    return page, computed


def _export_memory(client, url: str, label: str) -> dict:
    """Stream a whole CSV export: rows, seconds, this process's resident memory before it and
    the most it reached while streaming (sampled every 10,000 lines), and its peak RSS (the
    high-water mark of the whole run, which earlier pages may have set) before and after."""
    import resource

    def peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def rss_mb() -> float:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    before, rss_before = peak_mb(), rss_mb()
    rss_most, lines, sampled = rss_before, 0, 0
    started = time.perf_counter()
    response = client.get(url, secure=True)
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        if lines - sampled >= 10_000:
            rss_most, sampled = max(rss_most, rss_mb()), lines
    result = {
        "rows": lines - 1,
        "seconds": time.perf_counter() - started,
        "rss_before_mb": rss_before,
        "rss_most_mb": max(rss_most, rss_mb()),
        "peak_before_mb": before,
        "peak_after_mb": peak_mb(),
    }
    print(f"{label} export: {result}", flush=True)
    return result


def _get(client, url: str) -> None:
    response = client.get(url, secure=True)  # production redirects plain HTTP to HTTPS
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}")
    if response.streaming:
        b"".join(response.streaming_content)


def _percentile(samples: list[float], percent: int) -> float:
    """Nearest-rank percentile: the value at or below which `percent` % of the samples fall."""
    ordered = sorted(samples)
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]


def _report(args: argparse.Namespace, results: list[dict]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0].split()[0]
    before, after = (
        ", ".join(f"{v:.1f}" for v in load) for load in (args.load_before, os.getloadavg())
    )
    machine = f"{machine_line()}, PostgreSQL {postgres}"
    lines = [
        f"\n## Pages, {args.meters:,} meters ({datetime.now(UTC):%Y-%m-%d})\n",
        (
            f"Machine: {machine}; shared with other work: load average (1, 5, 15 min) "
            f"{before} when measuring began, {after} at the end."
        ),
        (
            f"Command: `python scripts/bench_pages.py --meters {args.meters}"
            + (f" --events {args.events}" if args.events else "")
            + (f' --only "{args.only}"' if args.only else "")
            + (" --no-export" if args.no_export else "")
            + "` "
            f"({args.warmup} warm-up and {args.requests} measured requests per page, "
            "Django test Client in-process, DEBUG off).\n"
        ),
        f"| page | p50 | p95 | Python CPU p50 | queries (SQL time) | p95 ≤ {TARGET_MS:.0f} ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        met = "yes" if r["p95"] <= TARGET_MS else "**no**"
        lines.append(
            f"| {r['label']} (`{_short(r['url'])}`) | {r['p50']:.0f} ms | {r['p95']:.0f} ms "
            f"| {r['cpu_p50']:.0f} ms | {r['queries']} ({r['sql_ms']:.0f} ms) | {met} |"
        )
    page, computed = args.cold
    lines.append(
        f"\nDashboard, cold (no figures stored): the page answered in {page * 1000:.0f} ms, "
        f"saying they are being computed and queueing the figures task; computing them took "
        f"{computed:.1f} s (then every request reads them: the dashboard row above)."
    )
    meters_export = getattr(args, "meters_export", None)
    if meters_export:
        lines.append(
            f"\nThe meters' CSV export of all of them: {meters_export['rows']:,} rows in "
            f"{meters_export['seconds']:.0f} s; this process's resident memory "
            f"{meters_export['rss_before_mb']:.0f} MB before it and at most "
            f"{meters_export['rss_most_mb']:.0f} MB while it streamed; peak RSS "
            f"{meters_export['peak_before_mb']:.0f} MB before it, "
            f"{meters_export['peak_after_mb']:.0f} MB after."
        )
    export = getattr(args, "export", None)
    if export:
        lines.append(
            f"\nHistory: {args.events:,} events. The change log's CSV export of all of them: "
            f"{export['rows']:,} rows in {export['seconds']:.0f} s; this process's peak RSS "
            f"{export['peak_before_mb']:.0f} MB before it, {export['peak_after_mb']:.0f} MB after."
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_report:
        with open(args.output, "a", encoding="utf-8") as out:
            out.write(text)


def _short(url: str) -> str:
    """Meter UUIDs shortened so the table stays readable."""
    parts = url.split("/")
    return "/".join(p[:8] + "…" if len(p) == 36 and p.count("-") == 4 else p for p in parts)


if __name__ == "__main__":
    main()
