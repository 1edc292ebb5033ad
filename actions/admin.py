"""Admin for required actions (Leap's fields read-only), the catalogue, notes and emails."""

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from actions.catalogue import TemplateError, check_template
from actions.models import ActionCatalogueEntry, ActionEmail, ActionNote, RequiredAction
from leapsync.ui.counts import LargeTablePaginator


@admin.register(RequiredAction)
class RequiredActionAdmin(admin.ModelAdmin):
    list_display = [
        "meter",
        "owner",
        "action_code",
        "action_type",
        "program_identifier",
        "enrollment_deadline_date_time",
        "resolved_at",
        "status",
        "assignee",
    ]
    list_filter = ["owner", "action_type", "status", "program_identifier"]
    search_fields = ["=meter__meter_id", "action_code", "action_description"]
    list_select_related = ["meter", "assignee"]
    raw_id_fields = ["assignee"]
    readonly_fields = RequiredAction.SYNCED_FIELDS
    show_full_result_count = False
    paginator = LargeTablePaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class CatalogueEntryForm(forms.ModelForm):
    """Refuses templates that would not render, so a broken edit never reaches a customer."""

    class Meta:
        model = ActionCatalogueEntry
        fields = [
            "action_type",
            "action_code",
            "title",
            "fixer",
            "next_step",
            "customer_link",
            "email_subject",
            "email_html",
            "email_text",
            "needs_review",
        ]

    def clean(self) -> dict:
        data = super().clean()
        for name in ("customer_link", "email_subject", "email_html", "email_text"):
            try:
                check_template(data.get(name) or "")
            except TemplateError as error:
                self.add_error(name, str(error))
        return data


@admin.register(ActionCatalogueEntry)
class ActionCatalogueEntryAdmin(admin.ModelAdmin):
    form = CatalogueEntryForm
    list_display = ["action_type", "action_code", "title", "fixer", "needs_review", "updated_at"]
    list_filter = ["needs_review", "fixer", "action_type"]
    search_fields = ["action_type", "action_code", "title"]
    fieldsets = [
        (None, {"fields": ["action_type", "action_code", "title", "fixer", "next_step"]}),
        (
            "Customer email (customer-fixable actions)",
            {
                "fields": ["customer_link", "email_subject", "email_html", "email_text"],
                "description": (
                    "Django template syntax. Placeholders: {{ customer_name }}, "
                    "{{ company_name }}, {{ meter_label }}, {{ meter_id }}, "
                    "{{ partner_reference }}, {{ address }}, {{ utility_name }}, {{ program }}, "
                    "{{ delivery_period }}, {{ deadline }}, {{ action_link }}, {{ partner_name }}, "
                    "{{ support_email }}, {{ support_url }}. The HTML part escapes every value."
                ),
            },
        ),
        ("Review", {"fields": ["needs_review"]}),
    ]


@admin.register(ActionNote)
class ActionNoteAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "kind", "author", "text"]
    list_filter = ["kind"]
    list_select_related = ["action", "author"]
    raw_id_fields = ["action", "author"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ActionEmail)
class ActionEmailAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "action",
        "kind",
        "to",
        "status",
        "attempts",
        "claimed_at",
        "sent_at",
    ]
    list_filter = ["kind", "status"]
    list_select_related = ["action"]
    raw_id_fields = ["action", "by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
