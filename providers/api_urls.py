from django.urls import path

from providers.api import MyProviderView

urlpatterns = [
    path("providers/me/", MyProviderView.as_view(), name="api-provider-me"),
]
