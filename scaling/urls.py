from django.urls import path

from scaling import views

app_name = "scaling"

# Run pages and controls are routed in training/urls.py (namespace `runs`).
urlpatterns = [
    path("projects/<int:project_id>/dashboard/", views.dashboard, name="dashboard"),
    path("projects/<int:project_id>/verdict-banner/", views.verdict_banner, name="verdict_banner"),
    path("projects/<int:project_id>/runs/<int:run_id>/suspects/", views.run_suspects, name="run_suspects"),
]
