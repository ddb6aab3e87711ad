"""Partner API routes, included by idme_sandbox/urls.py under api/public/v3/epcs/."""

from django.urls import URLPattern, URLResolver, path, re_path
from django.views.decorators.csrf import csrf_exempt

from idme_sandbox.partner import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("users/<str:user_uuid>/devices", views.devices, name="partner-devices"),
    path("users/<str:user_uuid>/totp/verify", views.totp_verify, name="partner-totp-verify"),
    path("users/<str:user_uuid>/push", views.push_create, name="partner-push-create"),
    # Before push/<txid>: "statuses" is not a txid.
    path("push/statuses", views.push_statuses, name="partner-push-statuses"),
    path("push/<str:txid>", views.push_status, name="partner-push-status"),
    path("push/<str:txid>/cancel", views.push_cancel, name="partner-push-cancel"),
    re_path(r"^(?P<rest>.*)$", csrf_exempt(views.not_found), name="partner-not-found"),
]
