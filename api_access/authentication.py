"""DRF authentication with a personal access token or an OAuth access token
(`Authorization: Bearer <token>`; docs/api.md "Authentication")."""

from __future__ import annotations

from typing import Any

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from api_access import services
from api_access.models import TOKEN_PREFIX, ApplicationPractice, PersonalAccessToken
from providers.models import Membership

_REFUSALS = {
    services.TokenCheck.UNKNOWN: "Invalid token.",
    services.TokenCheck.EXPIRED: "This token has expired.",
    services.TokenCheck.REVOKED: "This token has been revoked.",
    services.TokenCheck.INACTIVE_USER: "The account of this token is disabled.",
}


class PersonalAccessTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer ehr_pat_...`. A bearer value without the prefix is left to the
    OAuth class; a prefixed one that is unknown, expired or revoked is a 401."""

    def authenticate(self, request: Request) -> tuple[Any, PersonalAccessToken] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            return None
        if not secret.startswith(TOKEN_PREFIX):
            return None
        outcome = services.authenticate(secret, request._request)
        if outcome.check is not services.TokenCheck.OK or outcome.token is None:
            raise exceptions.AuthenticationFailed(_REFUSALS[outcome.check])
        return outcome.token.user, outcome.token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class OAuthAccessTokenAuthentication(OAuth2Authentication):
    """DOT's OAuth 2 authentication, plus the practice rule: an application's token works only
    while the person is a member of the application's practice."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        # Only an Authorization header is looked at (never an access_token in the query or the
        # body), and DOT reads the Django request: reading the DRF request's form data here
        # would parse a body our JSON-only API refuses (415) before the view ran.
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer" or parts[1].startswith(TOKEN_PREFIX.encode()):
            return None
        found = super().authenticate(request._request)
        if found is None:
            return None
        user, access_token = found
        if user is None:  # a client-credentials token acts for no person: not accepted here
            raise exceptions.AuthenticationFailed("This token does not act for a person.")
        if not user.is_active:
            raise exceptions.AuthenticationFailed("The account of this token is disabled.")
        if services.oauth_signing_grant_expired(access_token):
            raise exceptions.AuthenticationFailed(
                "An app that can sign must be authorized again every 12 hours: sign in and allow it again."
            )
        link = ApplicationPractice.objects.filter(application_id=access_token.application_id).first()
        if link is None or not Membership.objects.filter(user_id=user.pk, practice_id=link.practice_id).exists():
            raise exceptions.AuthenticationFailed("This app's practice does not include your account.")
        return user, access_token
