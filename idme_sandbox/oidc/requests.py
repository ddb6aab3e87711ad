"""authlib's Django request wrapper, with the Django request at hand (the issuer needs it)."""

from __future__ import annotations

from authlib.integrations.django_oauth2.requests import DjangoOAuth2Payload, DjangoOAuth2Request
from authlib.oauth2 import OAuth2Request
from django.http import HttpRequest


class SandboxOAuth2Request(DjangoOAuth2Request):
    def __init__(self, request: HttpRequest) -> None:
        uri = request.build_absolute_uri()
        # authlib refuses plain-http URIs other than localhost unless an environment variable
        # switches the check off for the whole process. The sandbox also runs as its own
        # service on an internal http address (docker compose), so it leaves transport
        # security to the deployment (SECURE_SSL_REDIRECT, the proxy) instead.
        OAuth2Request.__init__(
            self, method=str(request.method), uri="https://" + uri.split("://", 1)[-1], headers=request.headers
        )
        self.uri = uri
        self.payload = DjangoOAuth2Payload(request)
        self._request = request

    @property
    def django_request(self) -> HttpRequest:
        request: HttpRequest = self._request
        return request
