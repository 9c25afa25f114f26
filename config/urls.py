from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy
from django.views.decorators.http import require_http_methods

from api.api import api

handler400 = "config.errors.bad_request"

urlpatterns = [
    path("", include("annotation.urls")),
    path("", include("scaling.urls")),
    path("", include("api.urls")),
    path("", include("training.urls")),
    # Django's form views answer any method (PUT as POST, DELETE with the page): refuse the rest with 405.
    path("login/", require_http_methods(["GET", "POST"])(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # An invited member chooses a password through Django's one-time reset link.
    path(
        "invite/<uidb64>/<token>/",
        require_http_methods(["GET", "POST"])(
            auth_views.PasswordResetConfirmView.as_view(
                template_name="registration/invite_accept.html", success_url=reverse_lazy("login")
            )
        ),
        name="invite_accept",
    ),
    path("admin/", admin.site.urls),
    # The API's own routes are /v1/…, so its docs and schema sit at /api/docs and /api/openapi.json.
    path("api/", api.urls),
]
