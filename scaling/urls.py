from django.urls import path

from scaling import views

app_name = "scaling"

urlpatterns = [
    path("projects/<int:project_id>/dashboard/", views.dashboard, name="dashboard"),
    path("projects/<int:project_id>/verdict-banner/", views.verdict_banner, name="verdict_banner"),
    path(
        "projects/<int:project_id>/batches/<int:batch_id>/runs/",
        views.batch_run_start,
        name="batch_run_start",
    ),
    path("projects/<int:project_id>/runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("projects/<int:project_id>/runs/<int:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("projects/<int:project_id>/runs/<int:run_id>/retry/", views.run_retry, name="run_retry"),
    path("projects/<int:project_id>/runs/<int:run_id>/rerun/", views.run_rerun, name="run_rerun"),
    path("projects/<int:project_id>/runs/<int:run_id>/suspects/", views.run_suspects, name="run_suspects"),
    path("projects/<int:project_id>/runs/<int:run_id>/report/", views.run_report, name="run_report"),
]
