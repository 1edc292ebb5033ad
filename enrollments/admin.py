"""Admin for enrollment state (written by the sync: read-only), digest subscriptions (people's
settings: editable, as on the subscription page) and the digests sent (read-only)."""

from django.contrib import admin

from enrollments.models import (
    DigestSubscription,
    EnrollmentDeadline,
    MeterEnrollment,
    ParticipationPeriod,
    ProgramEnrollment,
    SentDigest,
)
from leapsync.ui.counts import LargeTablePaginator
from meters.admin import ViewOnlyAdmin


@admin.register(MeterEnrollment)
class MeterEnrollmentAdmin(ViewOnlyAdmin):
    list_display = [
        "meter",
        "global_enrollment_status",
        "leap_updated_at",
        "synced_at",
        "stale_after",
    ]
    list_filter = ["global_enrollment_status"]
    search_fields = ["=meter__meter_id", "meter__partner_reference"]
    list_select_related = ["meter"]
    show_full_result_count = False
    paginator = LargeTablePaginator


class EnrollmentDeadlineInline(admin.TabularInline):
    model = EnrollmentDeadline
    extra = 0
    can_delete = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ProgramEnrollment)
class ProgramEnrollmentAdmin(ViewOnlyAdmin):
    list_display = [
        "meter",
        "program_identifier",
        "delivery_period",
        "delivery_period_start_date_time",
        "enrollment_status",
        "market_group_name",
        "listed",
    ]
    list_filter = ["program_identifier", "enrollment_status", "listed"]
    search_fields = ["=meter__meter_id", "delivery_period", "market_group_name", "=market_group_id"]
    list_select_related = ["meter"]
    inlines = [EnrollmentDeadlineInline]
    show_full_result_count = False
    paginator = LargeTablePaginator


@admin.register(EnrollmentDeadline)
class EnrollmentDeadlineAdmin(ViewOnlyAdmin):
    list_display = ["program_enrollment", "enrollment_deadline_date_time", "activation_date_time"]
    list_select_related = ["program_enrollment"]
    date_hierarchy = "enrollment_deadline_date_time"
    show_full_result_count = False
    paginator = LargeTablePaginator


@admin.register(ParticipationPeriod)
class ParticipationPeriodAdmin(ViewOnlyAdmin):
    list_display = [
        "meter",
        "participation_preference",
        "start_time",
        "end_time",
        "is_open_ended",
        "reason",
    ]
    list_filter = ["participation_preference", "is_open_ended"]
    search_fields = ["=meter__meter_id", "reason"]
    list_select_related = ["meter"]
    show_full_result_count = False
    paginator = LargeTablePaginator


@admin.register(DigestSubscription)
class DigestSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["user", "cadence", "weekday", "window_days", "email", "is_active", "updated_at"]
    list_filter = ["cadence", "is_active"]
    search_fields = ["user__username", "user__email", "email"]
    raw_id_fields = ["user"]


@admin.register(SentDigest)
class SentDigestAdmin(ViewOnlyAdmin):
    list_display = ["subscription", "period", "status", "sent_at", "attempts", "subject"]
    list_filter = ["status"]
    search_fields = ["subscription__user__username", "period", "subject"]
    list_select_related = ["subscription__user"]
