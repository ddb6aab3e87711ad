"""OAuth 2.0 endpoints (under /oauth/): DOT's views, the authorization one with our consent
screen and practice check. The namespace is DOT's, so its own reverse() calls work.

No introspection endpoint: DOT's answers any confidential client about any token, which
would let one practice's app read another practice's token details (docs/api.md)."""

from django.urls import URLPattern, path
from oauth2_provider import views as oauth_views

from api_access import views

app_name = "oauth2_provider"

urlpatterns: list[URLPattern] = [
    path("authorize/", views.PracticeAuthorizationView.as_view(), name="authorize"),
    path("token/", oauth_views.TokenView.as_view(), name="token"),
    path("revoke/", oauth_views.RevokeTokenView.as_view(), name="revoke-token"),
]
