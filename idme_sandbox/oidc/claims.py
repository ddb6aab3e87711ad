"""Issuer, scopes and the claims the sandbox puts in ID tokens and userinfo (ID.me's names)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from idme_sandbox.models import Account, DeviceKind

IDENTITY_SCOPE = "http://idmanagement.gov/ns/assurance/ial/2/aal/2"
PARTNER_SCOPE = "epcs"
SCOPES_SUPPORTED = ["openid", IDENTITY_SCOPE, "profile", "email", PARTNER_SCOPE]
SCOPE_DESCRIPTIONS = {
    "openid": "Sign you in with your ID.me account",
    IDENTITY_SCOPE: "Share your verified identity: name, date of birth, email and identity assurance level (IAL2)",
    "profile": "Share your name",
    "email": "Share your email address",
    PARTNER_SCOPE: "Use your ID.me multi-factor devices to sign electronic prescriptions (EPCS)",
}
ID_TOKEN_SECONDS = 300
_DISCOVERY_SUFFIX = "/oidc/.well-known/openid-configuration"


def issuer(request: HttpRequest) -> str:
    """The sandbox base URL as this request sees it: `<scheme://host>/idme-sandbox`."""
    discovery = request.build_absolute_uri(reverse("idme_sandbox:oidc-discovery"))
    return discovery.removesuffix(_DISCOVERY_SUFFIX)


def assurance_aal(account: Account) -> int:
    """AAL2 when sign-in needed a second factor, i.e. the account has an MFA device."""
    return 2 if account.devices.filter(kind__in=[k.value for k in DeviceKind]).exists() else 1


def user_claims(account: Account) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": account.uuid,
        "uuid": account.uuid,
        "fname": account.fname,
        "lname": account.lname,
        "email": account.email,
        "credential_ial": int(account.ial),
        "credential_aal": assurance_aal(account),
    }
    if account.birth_date is not None:  # only when identity verification recorded one
        claims["birth_date"] = account.birth_date.isoformat()
    return claims


def describe_scopes(scope: str) -> list[str]:
    return [SCOPE_DESCRIPTIONS.get(name, name) for name in scope.split()]
