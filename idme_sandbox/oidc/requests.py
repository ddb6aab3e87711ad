"""authlib's Django request wrapper, with the Django request at hand (the issuer needs it)."""

from __future__ import annotations

from authlib.integrations.django_oauth2.requests import DjangoOAuth2Request
from django.http import HttpRequest


class SandboxOAuth2Request(DjangoOAuth2Request):
    @property
    def django_request(self) -> HttpRequest:
        request: HttpRequest = self._request
        return request
