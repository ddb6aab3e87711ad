from django.urls import include, path

from providers.api import MyProviderView

urlpatterns = [
    path("providers/me/", MyProviderView.as_view(), name="api-provider-me"),
    path("", include("providers.permissions_api_urls")),
]
