"""API tokens in admin: created with a secret shown once, revoked (never edited into another
secret); the list says which are live."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from leapsync.api import tokens
from leapsync.api.models import ApiToken, Scope


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, required=True
    )

    class Meta:
        model = ApiToken
        fields = ["name", "scopes", "expires_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ["name", "prefix", "scope_list", "state", "expires_at", "last_used_at"]
    list_select_related = ["created_by"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description="scopes")
    def scope_list(self, token: ApiToken) -> str:
        return ", ".join(token.scopes)

    @admin.display(description="state")
    def state(self, token: ApiToken) -> str:
        return token.refusal(timezone.now()).removeprefix("This token ").rstrip(".") or "live"

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        secret = tokens.set_secret(obj)
        obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)
        messages.warning(
            request,
            f"The token for “{obj.name}” is {secret} — copy it now: it is stored only as a "
            "hash and will not be shown again.",
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(tokens.revoke(token) for token in queryset)
        messages.success(request, f"Revoked {revoked} token(s).")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: a token's name stays in history
