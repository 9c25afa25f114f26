from django.contrib import admin

from api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made on the tokens page or with `create_api_token`; here they are only listed and revoked."""

    list_display = ["prefix", "name", "user", "created_at", "expires_at", "last_used_at"]
    search_fields = ["user__username", "prefix", "name"]
    readonly_fields = ["user", "name", "key_hash", "prefix", "created_at", "expires_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        return False
