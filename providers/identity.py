"""Identity proofing with ID.me (DEA-02): "Verify with ID.me" and the OIDC callback.

The services start the code flow (the pending request waits in the session, one at a time)
and finish it: the callback is checked (state, consent, code, ID token via idme_client),
the provider is linked to the ID.me uuid with IAL2, the AAL and the time. Every start,
success and failure is audited; a failure changes nothing on the provider.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_POST

import audit
from audit.models import Outcome
from idme_client import AuthorizationRequest, IdentityClaims, IdmeRejected, IdmeTokenInvalid, IdmeUnavailable
from idme_client.oidc import IdentityNotProofed, StateMismatch, build_authorization_request, complete_authorization
from providers import services
from providers.models import IdentityAssurance, Provider

PENDING_KEY = "idme_pending_authorization"
# A pending request older than this is dropped (ID.me's codes live 5 minutes).
PENDING_MAX_AGE_SECONDS = 15 * 60
CONFIRMED_TEXT = "Your identity has now been confirmed. To adjust future EPCS permissions, visit the"

# reason -> what the clinician reads. Each one is audited as identity.verify_failed.
FAILURE_MESSAGES: dict[str, str] = {
    "consent_denied": "You chose Deny at ID.me, so your identity was not shared. "
    "To prescribe controlled substances, verify again and choose Allow.",
    "idme_error": "ID.me could not complete the verification. Please try again.",
    "no_pending_request": "This ID.me response does not belong to a verification in progress "
    "(it was already used, or none was started). Start again with Verify with ID.me.",
    "request_expired": "The verification took too long and has expired. Start again with Verify with ID.me.",
    "state_mismatch": "This ID.me response does not match the verification you started, so it was refused.",
    "missing_code": "ID.me's response was incomplete (no authorization code). Start again with Verify with ID.me.",
    "code_rejected": "ID.me refused the sign-in code: it has expired or was already used. "
    "Start again with Verify with ID.me.",
    "ial1": "ID.me has verified your identity only at IAL1. EPCS needs identity verified at IAL2: "
    "complete identity verification at ID.me, then verify again.",
    "token_invalid": "The identity token from ID.me failed validation, so it was refused.",
    "unavailable": "ID.me could not be reached. Nothing was changed; please try again in a few minutes.",
    "uuid_linked_elsewhere": "This ID.me account is already linked to another provider in this practice.",
    "provider_linked_elsewhere": "Your profile is already linked to a different ID.me account.",
}


@dataclass(frozen=True)
class VerificationOutcome:
    verified: bool
    reason: str | None = None

    @property
    def message(self) -> str:
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
        _failed(request, provider, "unavailable", stage="start")
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
        return _failed(request, provider, "no_pending_request")
    returned_state = params.get("state", "")
    if not returned_state or not secrets.compare_digest(returned_state.encode(), pending.state.encode()):
        # A forged response must not cancel the person's real verification in progress.
        request.session[PENDING_KEY] = {**dataclasses.asdict(pending), "started_at": started_at}
        return _failed(request, provider, "state_mismatch")
    if time.time() - started_at > PENDING_MAX_AGE_SECONDS:
        return _failed(request, provider, "request_expired")
    error = params.get("error")
    if error:
        reason = "consent_denied" if error == "access_denied" else "idme_error"
        return _failed(request, provider, reason, idme_error=error[:100])
    code = params.get("code", "")
    if not code:
        return _failed(request, provider, "missing_code")
    try:
        claims = complete_authorization(
            redirect_uri=callback_url(request), code=code, returned_state=returned_state, pending=pending
        )
    except StateMismatch:
        return _failed(request, provider, "state_mismatch")
    except IdentityNotProofed:
        return _failed(request, provider, "ial1")
    except IdmeTokenInvalid as exc:
        return _failed(request, provider, "token_invalid", detail=str(exc))
    except IdmeUnavailable:
        return _failed(request, provider, "unavailable")
    except IdmeRejected as exc:
        return _failed(request, provider, "code_rejected", idme_error=exc.code)
    return link_identity(request, provider, claims)


def link_identity(request: HttpRequest, provider: Provider, claims: IdentityClaims) -> VerificationOutcome:
    """Store the verified identity on the provider (one ID.me account per provider)."""
    try:
        with transaction.atomic():
            locked = Provider.objects.select_for_update().get(pk=provider.pk)
            if Provider.objects.filter(idme_uuid=claims.uuid).exclude(pk=locked.pk).exists():
                raise _LinkRefused("uuid_linked_elsewhere")
            if locked.idme_uuid and locked.idme_uuid != claims.uuid:
                raise _LinkRefused("provider_linked_elsewhere")
            locked.idme_uuid = claims.uuid
            locked.identity_ial = IdentityAssurance.IAL2
            locked.identity_aal = f"aal{claims.aal}"
            locked.identity_verified_at = timezone.now()
            locked.save(update_fields=["idme_uuid", "identity_ial", "identity_aal", "identity_verified_at"])
            audit.record(
                "identity.verified",
                request=request,
                target=locked,
                details={"idme_uuid": claims.uuid, "ial": claims.ial, "aal": claims.aal},
            )
    except _LinkRefused as refused:
        return _failed(request, provider, refused.reason, idme_uuid=claims.uuid)
    except IntegrityError:  # a concurrent link of the same uuid won the race
        return _failed(request, provider, "uuid_linked_elsewhere", idme_uuid=claims.uuid)
    provider.refresh_from_db()
    return VerificationOutcome(verified=True)


class _LinkRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _failed(request: HttpRequest, provider: Provider, reason: str, **details: str) -> VerificationOutcome:
    audit.record(
        "identity.verify_failed",
        request=request,
        target=provider,
        outcome=Outcome.DENIED if reason == "consent_denied" else Outcome.FAILURE,
        details={"reason": reason, **details},
    )
    return VerificationOutcome(verified=False, reason=reason)


# --- views ------------------------------------------------------------------------------
def _erx_info_url() -> str:
    return reverse("provider-settings", kwargs={"tab": "erx-info"})


@login_required
@require_POST
def verify_with_idme(request: HttpRequest) -> HttpResponse:
    provider = services.current_provider(request)
    try:
        url = start_verification(request, provider)
    except IdmeUnavailable:
        messages.error(request, FAILURE_MESSAGES["unavailable"])
        return HttpResponseRedirect(_erx_info_url())
    return HttpResponseRedirect(url)


@login_required
@require_GET
def idme_callback(request: HttpRequest) -> HttpResponse:
    provider = services.current_provider(request)
    outcome = finish_verification(request, provider)
    if outcome.verified:
        messages.success(request, confirmation_message())
    else:
        messages.error(request, outcome.message)
    return HttpResponseRedirect(_erx_info_url())
