"""Version 1 of the REST API: each app contributes its routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("providers.api_urls")),
    path("", include("epcs_access.api_urls")),
    path("", include("mfa.api_urls")),
    path("", include("eprescribe.api_urls")),
]
