"""Identity proofing with ID.me (DEA-02, DEA-20): "Verify with ID.me" and the OIDC callback.

The services start the code flow (the pending request waits in the session, one at a time)
and finish it: the callback is checked (state, consent, code, ID token via idme_client),
the ID.me identity must be the provider's own (names and birth date, providers.identity.binding),
and the provider is linked to the ID.me uuid with IAL2, the AAL and the time. Every start,
success and failure is audited; a failure changes nothing on the provider. A name or birth-date
mismatch is kept for an EPCS access manager's review (providers.identity.reviews).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

import audit
from audit.models import Outcome
from idme_client import AuthorizationRequest, IdentityClaims, IdmeRejected, IdmeTokenInvalid, IdmeUnavailable
from idme_client.oidc import IdentityNotProofed, StateMismatch, build_authorization_request, complete_authorization
from providers import erx_cache
from providers.identity import binding as identity_binding
from providers.identity.binding import BindingCheck
from providers.models import IdentityAssurance, Provider

PENDING_KEY = "idme_pending_authorization"
# A pending request older than this is dropped (ID.me's codes live 5 minutes).
PENDING_MAX_AGE_SECONDS = 15 * 60
CONFIRMED_TEXT = "Your identity has now been confirmed. To adjust future EPCS permissions, visit the"


class VerificationFailure(StrEnum):
    """Why a verification did not confirm the identity (audited as identity.verify_failed)."""

    CONSENT_DENIED = "consent_denied"
    IDME_ERROR = "idme_error"
    NO_PENDING_REQUEST = "no_pending_request"
    REQUEST_EXPIRED = "request_expired"
    STATE_MISMATCH = "state_mismatch"
    MISSING_CODE = "missing_code"
    CODE_REJECTED = "code_rejected"
    IAL1 = "ial1"
    TOKEN_INVALID = "token_invalid"
    UNAVAILABLE = "unavailable"
    UUID_LINKED_ELSEWHERE = "uuid_linked_elsewhere"
    PROVIDER_LINKED_ELSEWHERE = "provider_linked_elsewhere"
    IDENTITY_MISMATCH = "identity_mismatch"


# reason -> what the clinician reads (a mismatch's message names what differed instead).
FAILURE_MESSAGES: dict[str, str] = {
    VerificationFailure.CONSENT_DENIED: "You chose Deny at ID.me, so your identity was not shared. "
    "To prescribe controlled substances, verify again and choose Allow.",
    VerificationFailure.IDME_ERROR: "ID.me could not complete the verification. Please try again.",
    VerificationFailure.NO_PENDING_REQUEST: "This ID.me response does not belong to a verification in progress "
    "(it was already used, or none was started). Start again with Verify with ID.me.",
    VerificationFailure.REQUEST_EXPIRED: "The verification took too long and has expired. "
    "Start again with Verify with ID.me.",
    VerificationFailure.STATE_MISMATCH: "This ID.me response does not match the verification you started, "
    "so it was refused.",
    VerificationFailure.MISSING_CODE: "ID.me's response was incomplete (no authorization code). "
    "Start again with Verify with ID.me.",
    VerificationFailure.CODE_REJECTED: "ID.me refused the sign-in code: it has expired or was already used. "
    "Start again with Verify with ID.me.",
    VerificationFailure.IAL1: "ID.me has verified your identity only at IAL1. EPCS needs identity verified at "
    "IAL2: complete identity verification at ID.me, then verify again.",
    VerificationFailure.TOKEN_INVALID: "The identity token from ID.me failed validation, so it was refused.",
    VerificationFailure.UNAVAILABLE: "ID.me could not be reached. Nothing was changed; please try again in a few "
    "minutes.",
    VerificationFailure.UUID_LINKED_ELSEWHERE: "This ID.me account is already linked to another provider in this "
    "practice.",
    VerificationFailure.PROVIDER_LINKED_ELSEWHERE: "Your profile is already linked to a different ID.me account.",
    VerificationFailure.IDENTITY_MISMATCH: "The identity at ID.me does not match your EHR profile, "
    "so it was not confirmed.",
}


@dataclass(frozen=True)
class VerificationOutcome:
    verified: bool
    reason: VerificationFailure | None = None
    mismatch: BindingCheck | None = None

    @property
    def message(self) -> str:
        if self.mismatch is not None:
            return identity_binding.mismatch_message(self.mismatch)
        return FAILURE_MESSAGES.get(self.reason or "", "")


def callback_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("idme-callback"))


def epcs_permissions_url() -> str:
    try:
        return reverse("epcs-permissions")
    except NoReverseMatch:
        return reverse("provider-settings", kwargs={"tab": "erx-info"})


def confirmation_message() -> SafeString:
    return format_html('{} <a href="{}">EPCS Permissions Page</a>', CONFIRMED_TEXT, epcs_permissions_url())


# --- services ---------------------------------------------------------------------------
def start_verification(request: HttpRequest, provider: Provider) -> str:
    """Begin the code flow; returns the ID.me URL. Raises IdmeUnavailable (audited)."""
    try:
        pending = build_authorization_request(callback_url(request))
    except IdmeUnavailable:
        _failed(request, provider, VerificationFailure.UNAVAILABLE, stage="start")
        raise
    request.session[PENDING_KEY] = {**dataclasses.asdict(pending), "started_at": time.time()}
    audit.record("identity.verify_started", request=request, target=provider)
    return pending.url


def _pop_pending(request: HttpRequest) -> tuple[AuthorizationRequest | None, float]:
    raw = request.session.pop(PENDING_KEY, None)
    if not isinstance(raw, dict):
        return None, 0.0
    try:
        started_at = float(raw.pop("started_at", 0.0))
        return AuthorizationRequest(**raw), started_at
    except (TypeError, ValueError):
        return None, 0.0


def finish_verification(request: HttpRequest, provider: Provider) -> VerificationOutcome:
    """Check the callback and link the provider; on any failure change nothing and audit why."""
    params = request.GET
    pending, started_at = _pop_pending(request)
    if pending is None:
        return _failed(request, provider, VerificationFailure.NO_PENDING_REQUEST)
    returned_state = params.get("state", "")
    if not returned_state or not secrets.compare_digest(returned_state.encode(), pending.state.encode()):
        # A forged response must not cancel the person's real verification in progress.
        request.session[PENDING_KEY] = {**dataclasses.asdict(pending), "started_at": started_at}
        return _failed(request, provider, VerificationFailure.STATE_MISMATCH)
    if time.time() - started_at > PENDING_MAX_AGE_SECONDS:
        return _failed(request, provider, VerificationFailure.REQUEST_EXPIRED)
    error = params.get("error")
    if error:
        reason = VerificationFailure.CONSENT_DENIED if error == "access_denied" else VerificationFailure.IDME_ERROR
        return _failed(request, provider, reason, idme_error=error[:100])
    code = params.get("code", "")
    if not code:
        return _failed(request, provider, VerificationFailure.MISSING_CODE)
    try:
        claims = complete_authorization(
            redirect_uri=callback_url(request), code=code, returned_state=returned_state, pending=pending
        )
    except StateMismatch:
        return _failed(request, provider, VerificationFailure.STATE_MISMATCH)
    except IdentityNotProofed:
        return _failed(request, provider, VerificationFailure.IAL1)
    except IdmeTokenInvalid as exc:
        return _failed(request, provider, VerificationFailure.TOKEN_INVALID, detail=str(exc))
    except IdmeUnavailable:
        return _failed(request, provider, VerificationFailure.UNAVAILABLE)
    except IdmeRejected as exc:
        return _failed(request, provider, VerificationFailure.CODE_REJECTED, idme_error=exc.code)
    return link_identity(request, provider, claims)


def link_identity(request: HttpRequest, provider: Provider, claims: IdentityClaims) -> VerificationOutcome:
    """Link the provider to the ID.me identity if it is theirs (one ID.me account per provider);
    a name or birth-date mismatch links nothing and is kept for an access manager's review."""
    try:
        with transaction.atomic():
            locked = Provider.objects.select_related("user").select_for_update().get(pk=provider.pk)
            refusal = link_refusal(locked, claims.uuid)
            if refusal is not None:
                raise _LinkRefused(refusal)
            check = identity_binding.check_binding(locked, claims)
            if not check.matches:
                mismatch = identity_binding.record_mismatch(locked, claims, check)
                audit.record(
                    "identity.verify_failed",
                    request=request,
                    target=locked,
                    outcome=Outcome.DENIED,
                    details={
                        "reason": VerificationFailure.IDENTITY_MISMATCH,
                        "idme_uuid": claims.uuid,
                        "ial": claims.ial,
                        "mismatch_id": mismatch.pk,
                        **identity_binding.audit_details(check),
                    },
                )
                return VerificationOutcome(verified=False, reason=VerificationFailure.IDENTITY_MISMATCH, mismatch=check)
            identity_binding.supersede_pending(locked)
            store_link(locked, uuid=claims.uuid, aal=claims.aal)
            audit.record(
                "identity.verified",
                request=request,
                target=locked,
                details={
                    "idme_uuid": claims.uuid,
                    "ial": claims.ial,
                    "aal": claims.aal,
                    "birth_date_compared": check.birth_date_compared,
                },
            )
    except _LinkRefused as refused:
        return _failed(request, provider, refused.reason, idme_uuid=claims.uuid)
    except IntegrityError:  # a concurrent link of the same uuid won the race
        return _failed(request, provider, VerificationFailure.UUID_LINKED_ELSEWHERE, idme_uuid=claims.uuid)
    provider.refresh_from_db()
    return VerificationOutcome(verified=True)


def link_refusal(locked: Provider, idme_uuid: str) -> VerificationFailure | None:
    """Why `locked` (row-locked) cannot be linked to this ID.me uuid, or None."""
    if Provider.objects.filter(idme_uuid=idme_uuid).exclude(pk=locked.pk).exists():
        return VerificationFailure.UUID_LINKED_ELSEWHERE
    if locked.idme_uuid and locked.idme_uuid != idme_uuid:
        return VerificationFailure.PROVIDER_LINKED_ELSEWHERE
    return None


def store_link(locked: Provider, *, uuid: str, aal: int) -> None:
    """Record the IAL2 identity on the row-locked provider (after link_refusal said None)."""
    locked.idme_uuid = uuid
    locked.identity_ial = IdentityAssurance.IAL2
    locked.identity_aal = f"aal{aal}"
    locked.identity_verified_at = timezone.now()
    locked.save(update_fields=["idme_uuid", "identity_ial", "identity_aal", "identity_verified_at"])
    erx_cache.bump_section(erx_cache.IDENTITY, locked.pk)


class _LinkRefused(Exception):
    def __init__(self, reason: VerificationFailure) -> None:
        super().__init__(reason)
        self.reason = reason


def _failed(
    request: HttpRequest, provider: Provider, reason: VerificationFailure, **details: str
) -> VerificationOutcome:
    audit.record(
        "identity.verify_failed",
        request=request,
        target=provider,
        outcome=Outcome.DENIED if reason == VerificationFailure.CONSENT_DENIED else Outcome.FAILURE,
        details={"reason": reason, **details},
    )
    return VerificationOutcome(verified=False, reason=reason)
