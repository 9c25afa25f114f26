from django.urls import path

from annotation import labelling_views, lead_views, preprocess_views, views

app_name = "annotation"

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("projects/new/", views.project_new, name="project_new"),
    path("projects/<int:project_id>/", views.project_detail, name="project_detail"),
    path("projects/<int:project_id>/settings/", views.project_settings, name="project_settings"),
    path("projects/<int:project_id>/label/", labelling_views.label, name="label"),
    path(
        "projects/<int:project_id>/label/<int:assignment_id>/",
        labelling_views.label_submit,
        name="label_submit",
    ),
    path(
        "projects/<int:project_id>/label/<int:assignment_id>/skip/",
        labelling_views.label_skip,
        name="label_skip",
    ),
    path("projects/<int:project_id>/label/undo/", labelling_views.label_undo, name="label_undo"),
    path("projects/<int:project_id>/items/", lead_views.item_list, name="item_list"),
    path(
        "projects/<int:project_id>/items/<int:item_id>/",
        lead_views.item_review,
        name="item_review",
    ),
    path(
        "projects/<int:project_id>/items/<int:item_id>/control/",
        lead_views.item_control,
        name="item_control",
    ),
    path("projects/<int:project_id>/agreement/", lead_views.agreement_view, name="agreement"),
    path("projects/<int:project_id>/guidelines/", lead_views.guidelines, name="guidelines"),
    path("projects/<int:project_id>/members/", lead_views.members, name="members"),
    path("projects/<int:project_id>/batches/", lead_views.batch_list, name="batch_list"),
    path(
        "projects/<int:project_id>/batches/<int:batch_id>/",
        lead_views.batch_detail,
        name="batch_detail",
    ),
    path(
        "projects/<int:project_id>/batches/<int:batch_id>/export/<str:fmt>/",
        lead_views.batch_export,
        name="batch_export",
    ),
    path("projects/<int:project_id>/imports/", lead_views.import_upload, name="import_upload"),
    path("projects/<int:project_id>/preprocess/", preprocess_views.preprocess, name="preprocess"),
    path(
        "projects/<int:project_id>/imports/<int:job_id>/",
        lead_views.import_status,
        name="import_status",
    ),
]
