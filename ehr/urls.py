from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("ehr.api_urls")),
    path("oauth/", include("api_access.oauth_urls")),
    path("account/api-tokens/", include("api_access.urls")),
    path("", include("providers.urls")),
    path("", include("epcs_access.urls")),
    path("mfa/", include("mfa.urls")),
    path("eprescribe/", include("eprescribe.urls")),
]

if settings.IDME_SANDBOX_ENABLED:
    urlpatterns.insert(0, path("idme-sandbox/", include("idme_sandbox.urls")))

# Under /api/ every Django-level error is an RFC 9457 problem too (docs/api.md, "Errors").
handler400 = "ehr.api.bad_request"
handler403 = "ehr.api.permission_denied"
handler404 = "ehr.api.page_not_found"
handler500 = "ehr.api.server_error"
