from django.urls import URLPattern, URLResolver, include, path

app_name = "idme_sandbox"
urlpatterns: list[URLPattern | URLResolver] = [
    # The EPCS partner API (docs/idme-api.md)
    path("api/public/v3/epcs/", include("idme_sandbox.partner.urls")),
]
