"""The OAuth / personal-access-token scopes of the REST API (docs/api.md "Authentication").

Read and write per resource, plus `epcs:sign` for the calls that complete a two-factor
EPCS step (signing, approving EPCS access). A view names its resource (`api_resource`);
`ehr.api_permissions.TokenScopes` asks for `<resource>:read` on GET/HEAD/OPTIONS and `<resource>:write`
otherwise, plus any extra scopes the view declares for one action or method. A call made
with the browser session needs no scope. Loaded by settings: imports nothing of Django.
"""

from __future__ import annotations

READ = "read"
WRITE = "write"
SIGN_SCOPE = "epcs:sign"

# resource -> the access kinds it offers
RESOURCES: dict[str, tuple[str, ...]] = {
    "profile": (READ,),
    "mfa": (READ, WRITE),
    "prescriptions": (READ, WRITE),
    "epcs": (READ, WRITE),
    "credentials": (READ, WRITE),
    "audit": (READ,),
}

_WORDS = {
    "profile": "your provider profile",
    "mfa": "your ID.me MFA devices",
    "prescriptions": "prescriptions you write or prepare",
    "epcs": "EPCS permission requests and approvals",
    "credentials": "your DEA registrations and state licenses, and as an access manager your practice's",
    "audit": "the audit events your role in your practice shows you",
}

SCOPES: dict[str, str] = {
    **{
        f"{resource}:{kind}": f"{'See' if kind == READ else 'Change'} {_WORDS[resource]}"
        for resource, kinds in RESOURCES.items()
        for kind in kinds
    },
    SIGN_SCOPE: "Sign controlled-substance prescriptions and approve EPCS access (each still needs your 2FA)",
}


def scope_for(resource: str, kind: str) -> str:
    return f"{resource}:{kind}"
