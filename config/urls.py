from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from api.api import api

urlpatterns = [
    path("", include("annotation.urls")),
    path("", include("scaling.urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # The API's own routes are /v1/…, so its docs and schema sit at /api/docs and /api/openapi.json.
    path("api/", api.urls),
]
