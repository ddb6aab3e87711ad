"""Routes of the Security tab's API tokens (under /account/api-tokens/)."""

from django.urls import URLPattern, path

from api_access import views

urlpatterns: list[URLPattern] = [
    path("", views.create_token, name="api-token-create"),
    path("<int:token_id>/revoke/", views.revoke_token, name="api-token-revoke"),
    path("apps/<int:application_id>/disconnect/", views.disconnect_app, name="api-app-disconnect"),
]
