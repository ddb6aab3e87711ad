from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import SimpleRouter

from providers.api import MyProviderView
from providers.audit_api import AuditEventViewSet, IncidentReportViewSet
from providers.credentials.api import DeaRegistrationViewSet, StateLicenseViewSet
from providers.credentials.verification_api import (
    UnverifiedCredentialsView,
    VerifyDeaRegistrationView,
    VerifyStateLicenseView,
)
from providers.me_api import MeView

router = SimpleRouter()
router.register("credentials/dea-registrations", DeaRegistrationViewSet, basename="api-dea-registration")
router.register("credentials/state-licenses", StateLicenseViewSet, basename="api-state-license")
router.register("audit-events", AuditEventViewSet, basename="api-audit-event")
router.register("incident-reports", IncidentReportViewSet, basename="api-incident-report")

urlpatterns: list[URLPattern | URLResolver] = [
    path("providers/me/", MyProviderView.as_view(), name="api-provider-me"),
    path("me/", MeView.as_view(), name="api-me"),
    path("credentials/unverified/", UnverifiedCredentialsView.as_view(), name="api-credentials-unverified"),
    path(
        "credentials/dea-registrations/<int:pk>/verify/",
        VerifyDeaRegistrationView.as_view(),
        name="api-dea-registration-verify",
    ),
    path(
        "credentials/state-licenses/<int:pk>/verify/",
        VerifyStateLicenseView.as_view(),
        name="api-state-license-verify",
    ),
    path("", include(router.urls)),
]
