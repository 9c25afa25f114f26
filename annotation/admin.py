from django.contrib import admin

from annotation import models


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "guideline_version", "overlap", "control_rate", "created_at"]


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role"]
    list_filter = ["role", "project"]


@admin.register(models.Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["project", "name", "status", "content_hash", "train_count", "eval_count"]
    readonly_fields = ["content_hash", "frozen_at"]
