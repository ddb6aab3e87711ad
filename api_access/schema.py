"""How the OpenAPI schema describes our two token kinds (loaded by ApiAccessConfig.ready)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from ehr.api_permissions import scopes_for
from ehr.api_scopes import SCOPES


class OAuthAccessTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api_access.authentication.OAuthAccessTokenAuthentication"
    name = "oauth2"

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        return {self.name: scopes_for(auto_schema.view, auto_schema.method)}

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "oauth2",
            "description": "Authorization code with PKCE (S256); docs/api.md “Authentication”.",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": "/oauth/authorize/",
                    "tokenUrl": "/oauth/token/",
                    "refreshUrl": "/oauth/token/",
                    "scopes": SCOPES,
                }
            },
        }


class PersonalAccessTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api_access.authentication.PersonalAccessTokenAuthentication"
    name = "personalAccessToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ehr_pat_…",
            "description": "A personal access token from the Security tab; it carries the scopes chosen there.",
        }
