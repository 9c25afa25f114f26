"""Run pages and controls, routed under the `runs` namespace.

The pages themselves are rendered by scaling's views: per DESIGN.md the
training app owns runs and jobs but renders no pages. The paths are the ones
the run pages always had.
"""

from django.urls import path

from scaling import views

app_name = "runs"

urlpatterns = [
    path(
        "projects/<int:project_id>/batches/<int:batch_id>/runs/",
        views.batch_run_start,
        name="batch_run_start",
    ),
    path("projects/<int:project_id>/runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("projects/<int:project_id>/runs/<int:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("projects/<int:project_id>/runs/<int:run_id>/retry/", views.run_retry, name="run_retry"),
    path("projects/<int:project_id>/runs/<int:run_id>/rerun/", views.run_rerun, name="run_rerun"),
    path(
        "projects/<int:project_id>/runs/<int:run_id>/verdict/retry/", views.run_verdict_retry, name="run_verdict_retry"
    ),
    path("projects/<int:project_id>/runs/<int:run_id>/label-check/", views.run_label_check, name="run_label_check"),
    path("projects/<int:project_id>/runs/<int:run_id>/report/", views.run_report, name="run_report"),
]
