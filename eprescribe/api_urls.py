from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import SimpleRouter

from eprescribe.api import PrescriptionViewSet

router = SimpleRouter()
router.register("prescriptions", PrescriptionViewSet, basename="api-prescription")

urlpatterns: list[URLPattern | URLResolver] = [path("", include(router.urls))]
