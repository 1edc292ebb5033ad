"""The API's endpoints under /api/v1/: lists filtered by the pages' own FilterSets and paged by
keyset, the change feed, the site upsert and the partner_reference edit.

DRF's generic list views, not function views: they are how django-filter and drf-spectacular
see a list's filters and pagination, so the schema documents exactly what the code accepts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import F, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    permission_classes,
    throttle_classes,
)
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from actions.filters import ActionFilterSet
from actions.models import RequiredAction
from enrollments.deadlines import Period
from enrollments.models import ProgramEnrollment
from enrollments.roster import roster_rows
from leapsync.api import feed, schema  # noqa: F401  (schema: the bearer scheme's extension)
from leapsync.api.auth import CanRead, CanWriteReferences, CanWriteSites
from leapsync.api.serializers import (
    METER_COLUMNS,
    PROGRAM_COLUMNS,
    ActionSerializer,
    DeadlinesSerializer,
    EventSerializer,
    FeedHeadSerializer,
    FeedPageSerializer,
    MeterSerializer,
    ReferenceResultSerializer,
    ReferenceSerializer,
    RosterRowSerializer,
    SiteSerializer,
    SiteUpsertReportSerializer,
    SiteUpsertRequestSerializer,
    StreamStatusSerializer,
    current_programs,
    program_deadlines,
)
from leapsync.api.writes import MAX_SITES, reference_push, set_reference, upsert_sites
from leapsync.dashboard import store
from leapsync.freshness import stream_freshness
from leapsync.replica import ReplicaReads
from meters.changes import ChangeLogFilterSet
from meters.filters import MeterFilterSet, SiteFilterSet
from meters.models import Meter, MeterEvent, Site, open_changes

FEED_PAGE = 500
FEED_MAX_PAGE = 5000


def _meters() -> QuerySet[Meter]:
    """The meters' rows as dicts: for_list()'s joins and open action count, and only the
    columns the API shows (`with_children` completes a page of them).

    Dicts, not model instances: building a model instance costs per column, and a page of 500
    meters (with their delivery periods) was mostly that."""
    return Meter.objects.for_list().values(
        "pk",
        "site",
        *METER_COLUMNS,
        "open_actions",
        site_external_id=F("site__external_id"),
        site_name=F("site__name"),
        global_enrollment_status=F("enrollment__global_enrollment_status"),
    )


def with_children(rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """`rows` of `_meters()` as MeterSerializer reads them: the site as a dict, each program's
    current delivery period and the latest open partner_reference change (one query each)."""
    pks = [row["pk"] for row in rows]
    periods: dict[int, list[dict[str, Any]]] = {pk: [] for pk in pks}
    listed = ProgramEnrollment.objects.filter(meter__in=pks, listed=True).order_by()
    for period in listed.values("meter", *PROGRAM_COLUMNS):
        periods[period.pop("meter")].append(period)
    pushes: dict[int, Any] = {}
    for change in open_changes().queryset.filter(meter__in=pks):  # newest first
        pushes.setdefault(change.meter_id, change)
    for row in rows:
        external_id, name = row.pop("site_external_id"), row.pop("site_name")
        row["site"] = None if row["site"] is None else {"external_id": external_id, "name": name}
        row["global_enrollment_status"] = row["global_enrollment_status"] or ""
        row["programs"] = current_programs(periods[row["pk"]], now)
        row["reference_push"] = pushes.get(row["pk"])
    return rows


class MeterList(ReplicaReads, generics.ListAPIView):
    """Meters, filtered exactly as the meters list is (the same FilterSet).

    The filters and the cursor page over the meters alone; only the page's keys are then read
    with their joins (`_meters()`): a deep page of the joined rows made PostgreSQL merge-join
    every enrollment before the cursor (85 ms at 50,000 meters in, more the deeper)."""

    serializer_class = MeterSerializer
    filterset_class = MeterFilterSet

    def get_queryset(self) -> QuerySet[Meter]:
        return Meter.objects.only("pk")

    def paginate_queryset(self, queryset: QuerySet[Meter]) -> list[dict[str, Any]] | None:
        keys = super().paginate_queryset(queryset)
        if keys is None:
            return None
        rows = {row["pk"]: row for row in _meters().filter(pk__in=[m.pk for m in keys])}
        return with_children([rows[m.pk] for m in keys if m.pk in rows], timezone.now())


class MeterDetail(generics.RetrieveAPIView):
    serializer_class = MeterSerializer
    lookup_field = "meter_id"

    def get_queryset(self) -> QuerySet[Meter]:
        return _meters()

    def get_object(self) -> dict[str, Any]:
        return with_children([super().get_object()], timezone.now())[0]


class MeterReference(APIView):
    """Set a meter's partner_reference: the rule, audit trail and push to Leap of the UI."""

    permission_classes = [CanWriteReferences]

    @extend_schema(request=ReferenceSerializer, responses={202: ReferenceResultSerializer})
    def put(self, request: Request, meter_id: UUID) -> Response:
        meter = get_object_or_404(Meter, meter_id=meter_id)
        body = ReferenceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change = set_reference(meter, body.validated_data["partner_reference"], request.auth)
        result = {
            "meter_id": meter.meter_id,
            "partner_reference": meter.partner_reference,
            "reference_push": reference_push(change),
        }
        return Response(ReferenceResultSerializer(result).data, status=202)


class SiteList(ReplicaReads, generics.ListAPIView):
    """GET: sites, filtered as the sites list is. POST: upsert sites by external_id."""

    serializer_class = SiteSerializer
    filterset_class = SiteFilterSet

    def get_permissions(self) -> list[Any]:
        return [CanWriteSites()] if self.request.method == "POST" else [CanRead()]

    def get_queryset(self) -> QuerySet[Site]:
        return Site.objects.for_list()

    @extend_schema(
        request=SiteUpsertRequestSerializer,
        responses={200: SiteUpsertReportSerializer},
        parameters=[OpenApiParameter("dry_run", OpenApiTypes.BOOL, description="Check only")],
        description=(
            f"Up to {MAX_SITES} sites per call, checked and written as a CSV import's rows: "
            "bad records are skipped and reported, the others written in one transaction; "
            "then meters whose partner_reference is a site's external_id are mapped."
        ),
    )
    def post(self, request: Request) -> Response:
        dry_run = request.query_params.get("dry_run", "").lower() in ("1", "true")
        report = upsert_sites(request.data, request.auth, dry_run=dry_run)
        return Response(SiteUpsertReportSerializer(report).data)


class ActionList(ReplicaReads, generics.ListAPIView):
    """Required actions with their workflow state, filtered as the inbox is (by default
    without those marked done: ask for `status` to see them)."""

    serializer_class = ActionSerializer
    filterset_class = ActionFilterSet

    def get_queryset(self) -> QuerySet[RequiredAction]:
        return RequiredAction.objects.for_inbox()


class Roster(ReplicaReads, generics.ListAPIView):
    """One delivery period's market group roster: its meters in a market group."""

    serializer_class = RosterRowSerializer
    filter_backends: list[Any] = []

    @extend_schema(
        parameters=[
            OpenApiParameter("program", str, required=True),
            OpenApiParameter("delivery_period", str, required=True),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[ProgramEnrollment]:
        program = self.request.query_params.get("program", "").strip()
        name = self.request.query_params.get("delivery_period", "").strip()
        missing = {
            k: ["This parameter is required."]
            for k, v in (("program", program), ("delivery_period", name))
            if not v
        }
        if missing:
            raise ValidationError(missing)
        period = (
            ProgramEnrollment.objects.filter(
                program_identifier=program, delivery_period=name, listed=True
            )
            .order_by("-delivery_period_start_date_time")
            .values_list("delivery_period_start_date_time", "delivery_period_end_date_time")
            .first()
        )
        if period is None:
            raise NotFound("No listed delivery period of that program has that name.")
        return roster_rows(Period(program, name, *period)).order_by("pk")


class Deadlines(ReplicaReads, APIView):
    """Per program: its current and next delivery periods and their enrollment deadlines with
    meters by status, as the deadlines page shows them (stored figures, with their time)."""

    @extend_schema(responses={200: DeadlinesSerializer})
    def get(self, request: Request) -> Response:
        stored = store.figures(store.DEADLINES)
        body = {
            "computing": stored is None,
            "computed_at": stored.computed_at if stored else None,
            "programs": [program_deadlines(p) for p in stored.value] if stored else [],
        }
        return Response(DeadlinesSerializer(body).data)


class SyncStatus(APIView):
    """Each stream's last successful run, and whether it is older than the freshness limit."""

    @extend_schema(responses={200: StreamStatusSerializer(many=True)})
    def get(self, request: Request) -> Response:
        rows = [
            {
                "stream": row.stream,
                "label": row.label,
                "stale": row.stale,
                "last_success_run": row.last_success.pk if row.last_success else None,
                "last_success_at": row.last_success.finished_at if row.last_success else None,
            }
            for row in stream_freshness(timezone.now())
        ]
        return Response(StreamStatusSerializer(rows, many=True).data)


class ChangeFeed(APIView):
    """Every history event once, in order, after `after` (see docs/api.md for the guarantee).

    Filters are the change log's; a client mirroring everything passes none.
    """

    filter_backends = [DjangoFilterBackend]
    filterset_class = ChangeLogFilterSet

    def get_queryset(self) -> QuerySet[MeterEvent]:
        return _events()

    @extend_schema(
        parameters=[
            OpenApiParameter("after", str, description="The `next` of the previous page"),
            OpenApiParameter("limit", int, description=f"At most {FEED_MAX_PAGE}"),
        ],
        filters=True,
        responses={200: FeedPageSerializer},
    )
    def get(self, request: Request) -> Response:
        filterset = ChangeLogFilterSet(request.query_params, queryset=self.get_queryset())
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        try:
            result = feed.page(filterset.qs, request.query_params.get("after"), _limit(request))
        except feed.BadCursor as error:
            raise ValidationError({"after": [str(error)]}) from None
        body = {
            "results": EventSerializer(result.events, many=True).data,
            "next": result.next,
            "has_more": result.has_more,
        }
        return Response(body)


class ChangeFeedHead(APIView):
    """The feed's current end: read the meters, then follow the feed from here."""

    @extend_schema(responses={200: FeedHeadSerializer})
    def get(self, request: Request) -> Response:
        return Response(FeedHeadSerializer({"cursor": feed.head()}).data)


def _events() -> QuerySet[MeterEvent]:
    return MeterEvent.objects.select_related("meter", "user").only(
        *(f.name for f in MeterEvent._meta.concrete_fields), "meter__meter_id", "user__username"
    )


def _limit(request: Request) -> int:
    text = request.query_params.get("limit", "")
    if not text:
        return FEED_PAGE
    if not text.isdigit() or not 1 <= int(text) <= FEED_MAX_PAGE:
        raise ValidationError({"limit": [f"A whole number from 1 to {FEED_MAX_PAGE}."]})
    return int(text)


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def not_found(request: Request) -> Response:
    raise NotFound("No such endpoint of this API: see /api/v1/docs/.")
