from django.contrib import admin

from api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made with `create_api_token`; here they are only listed and revoked."""

    list_display = ["prefix", "user", "created_at"]
    search_fields = ["user__username", "prefix"]
    readonly_fields = ["user", "key_hash", "prefix", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False
