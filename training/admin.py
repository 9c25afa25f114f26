from django.contrib import admin

from training import models


class RungInline(admin.TabularInline):
    model = models.Rung
    extra = 0


@admin.register(models.Ladder)
class LadderAdmin(admin.ModelAdmin):
    inlines = [RungInline]


@admin.register(models.Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["pk", "batch", "ladder", "status", "created_at"]
    list_filter = ["status"]
