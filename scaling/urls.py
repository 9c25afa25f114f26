from django.urls import path

from scaling import views

app_name = "scaling"

urlpatterns = [
    path("projects/<int:project_id>/runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("projects/<int:project_id>/runs/<int:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("projects/<int:project_id>/runs/<int:run_id>/retry/", views.run_retry, name="run_retry"),
]
