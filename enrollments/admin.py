"""Admin for enrollment state (all of it written by the sync: read-only)."""

from django.contrib import admin

from enrollments.models import (
    EnrollmentDeadline,
    MeterEnrollment,
    ParticipationPeriod,
    ProgramEnrollment,
)
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


@admin.register(EnrollmentDeadline)
class EnrollmentDeadlineAdmin(ViewOnlyAdmin):
    list_display = ["program_enrollment", "enrollment_deadline_date_time", "activation_date_time"]
    list_select_related = ["program_enrollment"]
    date_hierarchy = "enrollment_deadline_date_time"
    show_full_result_count = False


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
