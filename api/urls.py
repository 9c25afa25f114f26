from django.urls import path

from api import views

app_name = "api_tokens"

urlpatterns = [
    path("account/tokens/", views.token_list, name="list"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="revoke"),
]
