"""Admin for meters, sites and their history."""

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from leapsync.leap.enums import (
    CustomerClassification,
    LeapEnum,
    MeterType,
    TransmissionRegion,
    choices,
)
from leapsync.lib.search import id_range, text_query
from leapsync.ui.counts import LargeTablePaginator
from meters.models import (
    MatchCandidate,
    Meter,
    MeterEvent,
    PartnerReferenceChange,
    ReferenceImport,
    Site,
)


def leap_enum_filter(field_name: str, enum: type[LeapEnum]) -> type[admin.SimpleListFilter]:
    """A changelist filter offering a Leap enum's values.

    Django's own filter for a plain column lists the column's distinct values, which is a scan
    of the whole table (0.3 s at a million meters). A value Leap adds later is still filtered by
    its URL (`?field__exact=VALUE`, the same parameter Django's filter uses).
    """

    class LeapEnumFilter(admin.SimpleListFilter):
        title = Meter._meta.get_field(field_name).verbose_name
        parameter_name = f"{field_name}__exact"

        def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
            return choices(enum)

        def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
            value = self.value()
            return queryset.filter(**{field_name: value}) if value else queryset

    return LeapEnumFilter


class FoldedSearchAdmin(admin.ModelAdmin):
    """The changelist's search is the pages' one: the normalised columns, accents ignored."""

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        search_term = search_term.strip()
        if not search_term:
            return queryset, False
        query = text_query(search_term, folded=tuple(self.model.SEARCH_COLUMNS))
        bounds = id_range(search_term) if self.model is Meter else None
        if bounds is not None:
            query |= Q(meter_id__range=bounds)
        return queryset.filter(query), False


class ViewOnlyAdmin(admin.ModelAdmin):
    """History is written by code, never edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Site)
class SiteAdmin(FoldedSearchAdmin):
    list_display = ["external_id", "name", "city", "utility_name", "meter_count", "imported_at"]
    search_fields = ["search_text"]  # shows the search box; FoldedSearchAdmin searches
    list_filter = ["utility_name", "state_or_province_code"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(meter_count=Count("meters"))

    @admin.display(ordering="meter_count", description="meters")
    def meter_count(self, site: Site) -> int:
        return site.meter_count


@admin.register(Meter)
class MeterAdmin(FoldedSearchAdmin):
    list_display = [
        "meter_id",
        "partner_reference",
        "meter_type",
        "transmission_region",
        "end_customer_name",
        "utility_name",
        "is_archived",
        "missing_from_leap",
        "site",
        "leap_updated_at",
    ]
    list_filter = [
        leap_enum_filter("transmission_region", TransmissionRegion),
        leap_enum_filter("meter_type", MeterType),
        leap_enum_filter("customer_classification", CustomerClassification),
        "is_archived",
        "missing_from_leap",
        "mapping_source",
    ]
    search_fields = ["search_text"]  # shows the search box; FoldedSearchAdmin searches
    list_select_related = ["site"]
    autocomplete_fields = ["site"]
    raw_id_fields = ["mapped_by"]
    # The sync owns these; partner_reference changes go through the audited service.
    readonly_fields = [*Meter.SYNCED_FIELDS, "first_seen_at", "updated_at"]
    show_full_result_count = False
    paginator = LargeTablePaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(MeterEvent)
class MeterEventAdmin(ViewOnlyAdmin):
    list_display = [
        "observed_at",
        "meter",
        "kind",
        "field",
        "program_identifier",
        "delivery_period",
        "owner",
        "action_code",
        "action_type",
        "old",
        "new",
        "sync_run",
        "user",
    ]
    list_filter = ["kind", "owner"]
    search_fields = ["=meter__meter_id", "field", "program_identifier", "delivery_period"]
    list_select_related = ["meter", "sync_run", "user"]
    date_hierarchy = "observed_at"
    show_full_result_count = False
    paginator = LargeTablePaginator


@admin.register(PartnerReferenceChange)
class PartnerReferenceChangeAdmin(ViewOnlyAdmin):
    list_display = [
        "at",
        "meter",
        "old",
        "new",
        "by",
        "push_status",
        "pushed_at",
        "confirmed_at",
        "attempts",
    ]
    list_filter = ["push_status"]
    search_fields = ["=meter__meter_id", "old", "new"]
    list_select_related = ["meter", "by"]


@admin.register(MatchCandidate)
class MatchCandidateAdmin(ViewOnlyAdmin):
    """Written by the scoring task; the review queue is where people act on them."""

    list_display = ["meter", "site", "score", "reason", "identified", "computed_at", "changed_at"]
    list_filter = ["reason", "identified"]
    search_fields = ["=meter__meter_id", "site__external_id"]
    list_select_related = ["meter", "site"]
    show_full_result_count = False
    paginator = LargeTablePaginator


@admin.register(ReferenceImport)
class ReferenceImportAdmin(ViewOnlyAdmin):
    list_display = ["at", "name", "by", "rows", "pushed", "skipped"]
    search_fields = ["name", "sha256"]
    list_select_related = ["by"]
