from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import SimpleRouter

from eprescribe.api import PrescriptionViewSet
from eprescribe.signing_api import SigningSessionViewSet

router = SimpleRouter()
router.register("prescriptions", PrescriptionViewSet, basename="api-prescription")
router.register("signing-sessions", SigningSessionViewSet, basename="api-signing-session")

urlpatterns: list[URLPattern | URLResolver] = [path("", include(router.urls))]
