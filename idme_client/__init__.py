"""ID.me client: OIDC identity proofing (`idme_client.oidc`) and the EPCS partner API.

EHR apps import from here, never from `idme_sandbox`; see docs/idme-api.md.
"""

from idme_client.errors import (
    IdmeError,
    IdmeNotFound,
    IdmeRateLimited,
    IdmeRejected,
    IdmeTokenInvalid,
    IdmeUnavailable,
)
from idme_client.partner import PartnerClient, partner_client
from idme_client.types import AuthorizationRequest, Device, IdentityClaims, PushTransaction, TotpResult

__all__ = [
    "AuthorizationRequest",
    "Device",
    "IdentityClaims",
    "IdmeError",
    "IdmeNotFound",
    "IdmeRateLimited",
    "IdmeRejected",
    "IdmeTokenInvalid",
    "IdmeUnavailable",
    "PartnerClient",
    "PushTransaction",
    "TotpResult",
    "partner_client",
]
