from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from mfa.api import DeviceViewSet

router = SimpleRouter()
router.register("mfa/devices", DeviceViewSet, basename="api-mfa-device")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
