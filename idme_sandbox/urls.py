from django.urls import URLPattern, URLResolver, include, path

app_name = "idme_sandbox"
urlpatterns: list[URLPattern | URLResolver] = [
    # OpenID Connect: discovery, JWKS, authorize, token, userinfo (docs/idme-oidc.md)
    path("", include("idme_sandbox.oidc.urls")),
    # The EPCS partner API (docs/idme-api.md)
    path("api/public/v3/epcs/", include("idme_sandbox.partner.urls")),
    # The pharmacy-network simulator that receives NewRx messages (docs/eprescribe.md)
    path("pharmacy-network/", include("idme_sandbox.pharmacy.urls")),
    # The DEA registration registry simulator, a JSON API for subscribers (docs/dea-registry.md)
    path("dea-registry/", include("idme_sandbox.dea_registry.urls")),
    # Accounts, sign-in with MFA, account pages and method set-up (docs/idme-sandbox.md)
    path("", include("idme_sandbox.accounts.urls")),
    # The sandbox operator's sign-in, for the outbox and the pharmacy network (docs/idme-sandbox.md)
    path("", include("idme_sandbox.operator.urls")),
    # The simulated ID.me Authenticator: the phone page and its API (docs/idme-sandbox.md)
    path("", include("idme_sandbox.phone.urls")),
]
