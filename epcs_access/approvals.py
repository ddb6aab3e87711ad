"""Approving or rejecting an EPCS permission change with the approver's own 2FA (DEA-03).

Approving *or rejecting* needs both a password entry in the last 15 minutes (the approver's
own, `providers.reauth`) and the approver's 2FA on one of their own ID.me devices (purpose
"epcs_permission"). `start_decision` is the one way in, for the page and the API alike. The
change is applied by `complete_permission_challenge`, which mfa.challenges runs exactly once,
in the transaction that marks the challenge approved, and which checks every rule again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

import audit
from epcs_access.services import (
    PermissionRefused,
    RefusalCode,
    approval_refusal,
    decide,
    grant_refusal,
    refuse,
)
from mfa import challenges
from mfa.challenges import CompletionRefused
from mfa.models import DeviceKind, ProviderDevice, VerificationChallenge
from mfa.outcomes import Sentence
from providers import erx_cache
from providers.models import (
    EpcsPermission,
    EpcsPermissionRequest,
    EpcsPermissionState,
    EpcsRequestAction,
    EpcsRequestStatus,
    Provider,
    User,
)
from providers.reauth import recently_authenticated
from providers.roles import provider_of

PURPOSE = "epcs_permission"
UNCHANGED = "The EPCS permission was not changed."
# epcs_access's own words for what mfa reports about an approver's 2FA (mfa.outcomes.Sentence).
APPROVAL_SENTENCES: dict[Sentence, str] = {
    Sentence.CHALLENGE_FAILED: f"Too many wrong codes: this approval has ended. {UNCHANGED} Start again.",
    Sentence.LOCKED: (
        f"Too many wrong codes: two-factor authentication is locked for your account until {{until}}. {UNCHANGED}"
    ),
    Sentence.CODE_UNCHECKED: f"ID.me cannot be reached right now, so the code could not be checked. {UNCHANGED}",
    Sentence.DEVICE_LOCKED: f"ID.me has locked this device after too many wrong codes. {UNCHANGED}",
    Sentence.DEVICE_GONE: f"ID.me no longer knows this device. Update your devices on eRx Info. {UNCHANGED}",
    Sentence.PUSH_DENIED: f"The request was denied on your phone. {UNCHANGED}",
    Sentence.PUSH_EXPIRED: f"The push request expired before it was approved. {UNCHANGED}",
    Sentence.PUSH_CANCELLED: f"The push request was cancelled. {UNCHANGED}",
    Sentence.CODE_EXPIRED: f"The time to enter a code ran out. {UNCHANGED}",
    Sentence.CANCELLED: f"Cancelled. {UNCHANGED}",
    Sentence.ERROR: f"Something went wrong while completing this approval. {UNCHANGED} Try again.",
    Sentence.ENDED: f"This approval has ended and cannot be retried. {UNCHANGED} {{reason}}",
}
REFUSED = "epcs.permission_approval_refused"
OWN_DEVICE_NEEDED = "Approve with one of your own ID.me devices."
RECENT_PASSWORD_NEEDED = (
    "Confirm your password first: approving or rejecting an EPCS permission change needs your "
    "password entered in the last 15 minutes and your two-factor authentication."
)


class Decision(StrEnum):
    """What the approver's 2FA decides: both need a recent password entry and 2FA."""

    APPROVE = "approve"
    REJECT = "reject"


def subject_for(permission_request: EpcsPermissionRequest, approver: User) -> str:
    return f"epcs-permission-request:{permission_request.pk}:approver:{approver.pk}"


def decision_of(challenge: VerificationChallenge) -> Decision:
    return Decision(challenge.context.get("decision", Decision.APPROVE))


def own_devices(provider: Provider | None) -> list[ProviderDevice]:
    if provider is None:
        return []
    return list(ProviderDevice.objects.filter(provider=provider).order_by("-is_primary", "added_at"))


# --- starting ---------------------------------------------------------------------------
def start_decision(
    *,
    approver: User,
    permission_request: EpcsPermissionRequest,
    device_id: int | None,
    request: HttpRequest,
    decision: Decision = Decision.APPROVE,
    reason: str = "",
    check_password: Callable[[], None] | None = None,
) -> VerificationChallenge:
    """The page's and the API's one way to start approving or rejecting: the device must be
    one of the approver's own (else refused and audited), then `start_approval`.

    `check_password` runs once the device is known to be the approver's own: the API checks a
    `password` sent in the body there (it raises the API's own errors).
    """
    own = provider_of(approver)
    device = ProviderDevice.objects.filter(provider=own, pk=device_id).first() if own and device_id else None
    if device is None:
        # Not one of the approver's own devices: refused (and recorded), never a 404.
        message = approval_refusal(permission_request, approver) or OWN_DEVICE_NEEDED
        refuse(
            REFUSED, message, actor=approver, target=permission_request, request=request, code=RefusalCode.NOT_ALLOWED
        )
    if check_password is not None:
        check_password()
    return start_approval(
        approver=approver,
        permission_request=permission_request,
        device=device,
        request=request,
        decision=decision,
        reason=reason,
    )


def _start_refusal(
    approver: User, permission_request: EpcsPermissionRequest, device: ProviderDevice, decision: Decision
) -> str | None:
    refusal = approval_refusal(permission_request, approver)
    if refusal is None and decision is Decision.APPROVE and permission_request.action == EpcsRequestAction.GRANT:
        refusal = grant_refusal(permission_request.provider, None, permission_request.registration)
    approver_provider = provider_of(approver)
    if refusal is None and (approver_provider is None or device.provider_id != approver_provider.pk):
        refusal = OWN_DEVICE_NEEDED
    return refusal


def _push_wording(permission_request: EpcsPermissionRequest, decision: Decision) -> tuple[str, str]:
    """The push's title and message: what the approver's phone shows."""
    verb = "Grant" if permission_request.action == EpcsRequestAction.GRANT else "Revoke"
    if decision is Decision.REJECT:
        return (
            "Reject an EPCS permission change",
            f"Reject: {verb.lower()} EPCS permission for {permission_request.provider}",
        )
    return "Approve an EPCS permission change", f"{verb} EPCS permission for {permission_request.provider}"


def start_approval(
    *,
    approver: User,
    permission_request: EpcsPermissionRequest,
    device: ProviderDevice,
    request: HttpRequest | None = None,
    decision: Decision = Decision.APPROVE,
    reason: str = "",
) -> VerificationChallenge:
    """Check the approver may decide, then start 2FA on their own device (code or push).

    Refused with `RefusalCode.REAUTHENTICATION_REQUIRED` unless the approver entered their
    password in the last 15 minutes (in this session, or in this API request).
    """
    refusal = _start_refusal(approver, permission_request, device, decision)
    if refusal is None and (request is None or not recently_authenticated(request)):
        refuse(
            REFUSED,
            RECENT_PASSWORD_NEEDED,
            actor=approver,
            target=permission_request,
            request=request,
            code=RefusalCode.REAUTHENTICATION_REQUIRED,
        )
    if refusal is not None:
        refuse(
            REFUSED, refusal, actor=approver, target=permission_request, request=request, code=RefusalCode.NOT_ALLOWED
        )
    context = {
        "request_id": permission_request.pk,
        "approver_user_id": approver.pk,
        "decision": decision.value,
        "reason": reason[:300],
    }
    subject = subject_for(permission_request, approver)
    try:
        if device.kind == DeviceKind.PUSH:
            title, message = _push_wording(permission_request, decision)
            return challenges.start_push_challenge(
                provider=device.provider,
                device=device,
                purpose=PURPOSE,
                subject=subject,
                title=title,
                message=message,
                context=context,
                request=request,
            )
        return challenges.start_code_challenge(
            provider=device.provider, device=device, purpose=PURPOSE, subject=subject, context=context, request=request
        )
    except challenges.ChallengeError as exc:
        raise PermissionRefused(str(exc), RefusalCode.CHALLENGE_ERROR) from exc


def approval_challenge(
    *, approver: User, permission_request: EpcsPermissionRequest, challenge_id: Any
) -> VerificationChallenge | None:
    """The approver's own challenge for this request, or None (another person's is never returned)."""
    approver_provider = provider_of(approver)
    if approver_provider is None:
        return None
    try:
        pk = uuid.UUID(str(challenge_id))
    except ValueError:
        return None
    return VerificationChallenge.objects.filter(
        pk=pk,
        provider=approver_provider,
        purpose=PURPOSE,
        subject=subject_for(permission_request, approver),
    ).first()


# --- completing (mfa.challenges runs this once, inside its transaction) ---------------------
def complete_permission_challenge(challenge: VerificationChallenge) -> None:
    """mfa.challenges completion handler for "epcs_permission": apply the approved change.

    Runs inside the transaction that marks the challenge approved; raising CompletionRefused
    undoes everything. Every rule is checked again here, on locked rows.
    """
    approver = challenge.provider.user
    permission_request = _locked_request_of(challenge, approver)
    refusal = approval_refusal(permission_request, approver)
    if decision_of(challenge) is Decision.REJECT:
        if refusal is not None:
            raise CompletionRefused(refusal)
        _reject(permission_request, approver, challenge)
        return
    if refusal is None and permission_request.action == EpcsRequestAction.GRANT:
        refusal = grant_refusal(permission_request.provider, None, permission_request.registration)
    if refusal is not None:
        # Everything in this transaction is undone; mfa.challenges records "mfa.completion_failed"
        # with this reason.
        raise CompletionRefused(refusal)
    permission, action = _apply(permission_request, approver)
    _mark_approved(permission_request, approver, challenge)
    audit.record(
        action,
        actor=approver,
        target=permission,
        chain=permission_request.practice_id,
        details={
            "provider_id": permission_request.provider.pk,
            "practice_id": permission_request.practice_id,
            "registration": permission.registration.number if permission.registration else None,
            "request_id": permission_request.pk,
            "entered_by": permission_request.entered_by.get_username(),
            "approved_by": approver.get_username(),
            "challenge": str(challenge.pk),
            "device": challenge.device_label,
            "method": challenge.method,
        },
    )


def _locked_request_of(challenge: VerificationChallenge, approver: User) -> EpcsPermissionRequest:
    """The request this challenge approves, locked; refused unless the challenge is the approver's for it."""
    if challenge.context.get("approver_user_id") != approver.pk:
        raise CompletionRefused("This approval does not belong to you.")
    permission_request = (
        EpcsPermissionRequest.objects.select_for_update(of=("self",))
        .select_related("provider__user", "practice", "registration")
        .filter(pk=challenge.context.get("request_id"))
        .first()
    )
    if permission_request is None or challenge.subject != subject_for(permission_request, approver):
        raise CompletionRefused("This approval does not match an EPCS permission request.")
    return permission_request


def _reject(permission_request: EpcsPermissionRequest, approver: User, challenge: VerificationChallenge) -> None:
    reason = str(challenge.context.get("reason", ""))[:300]
    decide(permission_request, EpcsRequestStatus.REJECTED, approver, reason or "Rejected with 2FA")
    audit.record(
        "epcs.permission_request_rejected",
        actor=approver,
        target=permission_request,
        chain=permission_request.practice_id,
        details={
            "reason": reason,
            "challenge": str(challenge.pk),
            "device": challenge.device_label,
            "method": challenge.method,
        },
    )


def _apply(permission_request: EpcsPermissionRequest, approver: User) -> tuple[EpcsPermission, str]:
    """Grant or revoke the locked permission in the request's practice; returns it and the audit action."""
    provider = permission_request.provider
    permission, _ = EpcsPermission.objects.get_or_create(provider=provider, practice_id=permission_request.practice_id)
    permission = EpcsPermission.objects.select_for_update().get(pk=permission.pk)
    now = timezone.now()
    if permission_request.action == EpcsRequestAction.GRANT:
        permission.state = EpcsPermissionState.GRANTED
        permission.registration = permission_request.registration
        permission.granted_at = now
        permission.revoked_at = None
        permission.revoked_reason = ""
        action = "epcs.permission_granted"
    else:
        if not permission.is_granted:
            raise CompletionRefused(f"{provider} no longer has EPCS permission; nothing to revoke.")
        permission.state = EpcsPermissionState.REVOKED
        permission.revoked_at = now
        permission.revoked_reason = (permission_request.note or "Revoked with two-person approval")[:300]
        action = "epcs.permission_revoked"
    permission.entered_by_id = permission_request.entered_by_id
    permission.approved_by = approver
    permission.save()
    erx_cache.bump_section(erx_cache.EPCS, provider.pk)
    return permission, action


def _mark_approved(permission_request: EpcsPermissionRequest, approver: User, challenge: VerificationChallenge) -> None:
    permission_request.approved_by = approver
    permission_request.approval_challenge_id = challenge.pk
    permission_request.approval_device_label = challenge.device_label
    permission_request.save(update_fields=["approved_by", "approval_challenge_id", "approval_device_label"])
    decide(permission_request, EpcsRequestStatus.APPROVED, approver, "Approved with 2FA")
