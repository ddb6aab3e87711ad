"""URLs of the sandbox running as its own service (`idme_sandbox.settings`).

The sandbox answers at /idme-sandbox/, as it does mounted in the EHR, so the EHR's
IDME_BASE_URL ends in /idme-sandbox in both modes.
"""

from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("idme-sandbox/", include("idme_sandbox.urls")),
]
