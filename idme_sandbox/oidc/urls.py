"""ID.me's OIDC paths, included at the sandbox root (names live in the idme_sandbox namespace)."""

from django.urls import path

from idme_sandbox.oidc import views

urlpatterns = [
    path("oidc/.well-known/openid-configuration", views.discovery, name="oidc-discovery"),
    path("oidc/.well-known/jwks", views.jwks, name="oidc-jwks"),
    path("oauth/authorize", views.authorize, name="oauth-authorize"),
    path("oauth/token", views.token, name="oauth-token"),
    path("api/public/v3/userinfo", views.userinfo, name="oidc-userinfo"),
]
