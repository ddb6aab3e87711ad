"""EPCS permissions: two-person grant and revocation, and the lost-device revocation.

Rules (DEA-02, DEA-03, DEA-04, NIST-05; docs/epcs-permissions.md):

- Only an *access manager* (active staff with `providers.manage_epcs_access`, given by the
  "EPCS access manager" group) enters a grant or revocation request.
- A grant may be entered and approved only while the prescriber's identity is IAL2-confirmed
  through ID.me and they hold a current DEA registration verified against the DEA registry.
- A *second person* approves: a DEA registrant with a current, verified registration
  (providers.epcs.registration_counts) who is neither the
  person who entered the request nor the prescriber. They approve by completing a 2FA
  challenge (purpose "epcs_permission") on their own ID.me device; the change is applied by
  `complete_permission_challenge`, which mfa.challenges runs exactly once, in the transaction
  that marks the challenge approved, and which checks every rule again.
- Approving *or rejecting* needs both a password entry in the last 15 minutes (the
  approver's own, `providers.reauth`) and the approver's 2FA; the rule is here, in
  `start_approval`, so the page and the API share it (DEA-03, ASVS-05).
- "Report lost or stolen device" revokes at once (no second person) and tells the access
  managers in the app and by email.
- Every decision, granted or refused, is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

import audit
from audit.models import Outcome
from providers import erx_cache
from providers.epcs import has_current_registration, has_registration_in_force, today
from providers.models import (
    EpcsAccessNotice,
    EpcsPermission,
    EpcsPermissionRequest,
    EpcsPermissionState,
    EpcsRequestAction,
    EpcsRequestStatus,
    Provider,
    User,
)
from providers.reauth import recently_authenticated

if TYPE_CHECKING:
    from mfa.models import ProviderDevice, VerificationChallenge

logger = logging.getLogger(__name__)

ACCESS_MANAGER_GROUP = "EPCS access manager"
ACCESS_MANAGER_PERMISSION = "providers.manage_epcs_access"
PURPOSE = "epcs_permission"
LOST_DEVICE_REASON = "Lost or stolen device reported"


class PermissionRefused(Exception):
    """The change is not allowed; the message is for the person who tried."""

    def __init__(self, message: str, code: str = "refused") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --- who is who ---------------------------------------------------------------
def is_access_manager(user: Any) -> bool:
    return bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_staff
        and user.has_perm(ACCESS_MANAGER_PERMISSION)
    )


def ensure_access_manager_group() -> Group:
    """The "EPCS access manager" group with its permission (a data migration creates it too;
    this recreates it after a database flush, e.g. for the demo seed)."""
    content_type = ContentType.objects.get_for_model(EpcsPermission)
    permission, _ = Permission.objects.get_or_create(
        codename=ACCESS_MANAGER_PERMISSION.split(".")[1],
        content_type=content_type,
        defaults={"name": "Can enter EPCS permission grants and revocations"},
    )
    group, _ = Group.objects.get_or_create(name=ACCESS_MANAGER_GROUP)
    group.permissions.add(permission)
    return group


def access_managers() -> list[User]:
    app_label, codename = ACCESS_MANAGER_PERMISSION.split(".")
    permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    condition = Q(is_superuser=True)
    if permission is not None:
        condition |= Q(groups__permissions=permission) | Q(user_permissions=permission)
    return list(User.objects.filter(condition, is_active=True, is_staff=True).distinct().order_by("username"))


def provider_of(user: Any) -> Provider | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Provider.objects.filter(user_id=user.pk).first()


def is_registrant(user: Any, on: dt.date | None = None) -> bool:
    """A DEA registrant: a provider with a DEA registration that counts (current and verified
    against the DEA registry by someone else; providers.epcs.registration_counts)."""
    provider = provider_of(user)
    return provider is not None and has_current_registration(provider, on)


def grant_refusal(provider: Provider, on: dt.date | None = None) -> str | None:
    """Why `provider` cannot be granted EPCS now (DEA-02), or None."""
    if not provider.identity_confirmed:
        return f"{provider} cannot be granted EPCS: their identity is not confirmed at IAL2 through ID.me."
    if not has_current_registration(provider, on):
        return (
            f"{provider} cannot be granted EPCS: they have no current DEA registration verified against the "
            "DEA registry."
        )
    return None


def approval_refusal(permission_request: EpcsPermissionRequest, approver: Any) -> str | None:
    """Why `approver` may not approve (or reject) this request (DEA-03), or None."""
    if not permission_request.is_pending:
        return "This request is no longer pending."
    if approver.pk == permission_request.entered_by_id:
        return "You entered this request, so a second person must approve it."
    if approver.pk == permission_request.provider.user_id:
        return "You cannot approve a change to your own EPCS permission."
    if not is_registrant(approver):
        return (
            "Only a DEA registrant with a current DEA registration verified against the DEA registry can approve "
            "EPCS permission changes."
        )
    return None


def pending_request_for(provider: Provider) -> EpcsPermissionRequest | None:
    return EpcsPermissionRequest.objects.filter(provider=provider, status=EpcsRequestStatus.PENDING).first()


def requests_awaiting(approver: Any) -> list[EpcsPermissionRequest]:
    """Pending requests `approver` may approve."""
    if not is_registrant(approver):
        return []
    pending = EpcsPermissionRequest.objects.filter(status=EpcsRequestStatus.PENDING).select_related(
        "provider__user", "entered_by"
    )
    return [r for r in pending if approval_refusal(r, approver) is None]


def visible_requests(user: Any) -> QuerySet[EpcsPermissionRequest]:
    """Object-level access (ASVS-06): access managers see every request; anyone else sees the
    requests about themselves, the ones they entered and the pending ones they may approve."""
    base = EpcsPermissionRequest.objects.select_related("provider__user", "entered_by", "approved_by")
    if is_access_manager(user):
        return base
    awaiting = [r.pk for r in requests_awaiting(user)]
    return base.filter(Q(provider__user_id=user.pk) | Q(entered_by_id=user.pk) | Q(pk__in=awaiting))


def record_refusal(
    actor: Any,
    target: Any,
    message: str,
    request: HttpRequest | None = None,
    *,
    action: str = "epcs.permission_approval_refused",
) -> None:
    """Record a refused attempt (DEA-13) without raising."""
    audit.record(
        action, actor=actor, target=target, outcome=Outcome.DENIED, request=request, details={"reason": message}
    )


def _refuse(action: str, message: str, *, actor: Any, target: Any, request: HttpRequest | None, code: str) -> None:
    audit.record(
        action, actor=actor, target=target, outcome=Outcome.DENIED, request=request, details={"reason": message}
    )
    raise PermissionRefused(message, code)


# --- entering ---------------------------------------------------------------------
def enter_request(
    *, actor: User, provider: Provider, action: str, note: str = "", request: HttpRequest | None = None
) -> EpcsPermissionRequest:
    """An access manager enters a grant or revocation; it waits for a second person."""
    if action not in EpcsRequestAction.values:
        raise PermissionRefused("Choose grant or revoke.", "invalid_action")
    if not is_access_manager(actor):
        _refuse(
            "epcs.permission_request_refused",
            "Only an EPCS access manager can enter EPCS permission changes.",
            actor=actor,
            target=provider,
            request=request,
            code="not_access_manager",
        )
    try:
        with transaction.atomic():
            # One change at a time per prescriber: lock the prescriber's row.
            Provider.objects.select_for_update().filter(pk=provider.pk).first()
            permission = EpcsPermission.objects.filter(provider=provider).first()
            granted = permission is not None and permission.is_granted
            refusal: str | None = None
            if pending_request_for(provider) is not None:
                refusal = (
                    f"{provider} already has a pending EPCS permission request. Approve, reject or cancel it first."
                )
            elif action == EpcsRequestAction.GRANT:
                refusal = f"{provider} already has EPCS permission." if granted else grant_refusal(provider)
            elif not granted:
                refusal = f"{provider} does not have EPCS permission, so there is nothing to revoke."
            if refusal is None:
                now = timezone.now()
                permission_request = EpcsPermissionRequest.objects.create(
                    provider=provider, action=action, note=note[:300], entered_by=actor
                )
                if action == EpcsRequestAction.GRANT:
                    permission = permission or EpcsPermission(provider=provider)
                    permission.requested_at = now
                    permission.save()
                audit.record(
                    "epcs.permission_request_entered",
                    actor=actor,
                    target=permission_request,
                    request=request,
                    details={"action": action, "provider_id": provider.pk, "note": note[:300]},
                )
                erx_cache.bump_section("epcs", provider.pk)
                return permission_request
    except IntegrityError:
        refusal = f"{provider} already has a pending EPCS permission request."
    _refuse(
        "epcs.permission_request_refused",
        refusal,
        actor=actor,
        target=provider,
        request=request,
        code="not_allowed",
    )
    raise AssertionError("unreachable")


def cancel_request(
    *, actor: User, permission_request: EpcsPermissionRequest, request: HttpRequest | None = None
) -> EpcsPermissionRequest:
    """The person who entered it, or an access manager, withdraws a pending request."""
    with transaction.atomic():
        locked = EpcsPermissionRequest.objects.select_for_update().get(pk=permission_request.pk)
        if actor.pk != locked.entered_by_id and not is_access_manager(actor):
            message = "Only the person who entered this request or an EPCS access manager can cancel it."
        elif not locked.is_pending:
            message = "This request is no longer pending."
        else:
            _decide(locked, EpcsRequestStatus.CANCELLED, actor, "Cancelled")
            audit.record("epcs.permission_request_cancelled", actor=actor, target=locked, request=request)
            return locked
    _refuse(
        "epcs.permission_request_cancel_refused",
        message,
        actor=actor,
        target=permission_request,
        request=request,
        code="not_allowed",
    )
    raise AssertionError("unreachable")


def _decide(permission_request: EpcsPermissionRequest, status: str, actor: Any, reason: str) -> None:
    permission_request.status = status
    permission_request.decided_by = actor if getattr(actor, "pk", None) else None
    permission_request.decided_at = timezone.now()
    permission_request.decision_reason = reason[:300]
    permission_request.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    erx_cache.bump_section("epcs", permission_request.provider_id)


# --- approving with 2FA -----------------------------------------------------------
def subject_for(permission_request: EpcsPermissionRequest, approver: User) -> str:
    return f"epcs-permission-request:{permission_request.pk}:approver:{approver.pk}"


class Decision(StrEnum):
    """What the approver's 2FA decides: both need a recent password entry and 2FA."""

    APPROVE = "approve"
    REJECT = "reject"


# PermissionRefused.code when the approver's last password entry is older than 15 minutes.
REAUTHENTICATION_REQUIRED = "reauthentication_required"
RECENT_PASSWORD_NEEDED = (
    "Confirm your password first: approving or rejecting an EPCS permission change needs your "
    "password entered in the last 15 minutes and your two-factor authentication."
)


def decision_of(challenge: VerificationChallenge) -> Decision:
    return Decision(challenge.context.get("decision", Decision.APPROVE))


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

    Refused with code "reauthentication_required" unless the approver entered their password
    in the last 15 minutes (in this session, or in this API request).
    """
    from mfa import challenges
    from mfa.models import DeviceKind

    refusal = approval_refusal(permission_request, approver)
    if refusal is None and decision is Decision.APPROVE and permission_request.action == EpcsRequestAction.GRANT:
        refusal = grant_refusal(permission_request.provider)
    approver_provider = provider_of(approver)
    if refusal is None and (approver_provider is None or device.provider_id != approver_provider.pk):
        refusal = "Approve with one of your own ID.me devices."
    if refusal is None and (request is None or not recently_authenticated(request)):
        _refuse(
            "epcs.permission_approval_refused",
            RECENT_PASSWORD_NEEDED,
            actor=approver,
            target=permission_request,
            request=request,
            code=REAUTHENTICATION_REQUIRED,
        )
    if refusal is not None or approver_provider is None:
        _refuse(
            "epcs.permission_approval_refused",
            refusal or "Only a DEA registrant can approve.",
            actor=approver,
            target=permission_request,
            request=request,
            code="not_allowed",
        )
        raise AssertionError("unreachable")
    context = {
        "request_id": permission_request.pk,
        "approver_user_id": approver.pk,
        "decision": decision.value,
        "reason": reason[:300],
    }
    subject = subject_for(permission_request, approver)
    try:
        if device.kind == DeviceKind.PUSH:
            verb = "Grant" if permission_request.action == EpcsRequestAction.GRANT else "Revoke"
            if decision is Decision.REJECT:
                title = "Reject an EPCS permission change"
                message = f"Reject: {verb.lower()} EPCS permission for {permission_request.provider}"
            else:
                title = "Approve an EPCS permission change"
                message = f"{verb} EPCS permission for {permission_request.provider}"
            return challenges.start_push_challenge(
                provider=approver_provider,
                device=device,
                purpose=PURPOSE,
                subject=subject,
                title=title,
                message=message,
                context=context,
                request=request,
            )
        return challenges.start_code_challenge(
            provider=approver_provider,
            device=device,
            purpose=PURPOSE,
            subject=subject,
            context=context,
            request=request,
        )
    except challenges.ChallengeError as exc:
        raise PermissionRefused(str(exc), "challenge_error") from exc


def approval_challenge(
    *, approver: User, permission_request: EpcsPermissionRequest, challenge_id: Any
) -> VerificationChallenge | None:
    """The approver's own challenge for this request, or None (another person's is never returned)."""
    from mfa.models import VerificationChallenge

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


def complete_permission_challenge(challenge: VerificationChallenge) -> None:
    """mfa.challenges completion handler for "epcs_permission": apply the approved change.

    Runs inside the transaction that marks the challenge approved; raising CompletionRefused
    undoes everything. Every rule is checked again here, on locked rows.
    """
    from mfa.challenges import CompletionRefused

    request_id = challenge.context.get("request_id")
    approver = challenge.provider.user
    if challenge.context.get("approver_user_id") != approver.pk:
        raise CompletionRefused("This approval does not belong to you.")
    permission_request = (
        EpcsPermissionRequest.objects.select_for_update(of=("self",))
        .select_related("provider__user")
        .filter(pk=request_id)
        .first()
    )
    if permission_request is None or challenge.subject != subject_for(permission_request, approver):
        raise CompletionRefused("This approval does not match an EPCS permission request.")
    refusal = approval_refusal(permission_request, approver)
    provider = permission_request.provider
    if decision_of(challenge) is Decision.REJECT:
        if refusal is not None:
            raise CompletionRefused(refusal)
        reason = str(challenge.context.get("reason", ""))[:300]
        _decide(permission_request, EpcsRequestStatus.REJECTED, approver, reason or "Rejected with 2FA")
        audit.record(
            "epcs.permission_request_rejected",
            actor=approver,
            target=permission_request,
            details={
                "reason": reason,
                "challenge": str(challenge.pk),
                "device": challenge.device_label,
                "method": challenge.method,
            },
        )
        return
    if refusal is None and permission_request.action == EpcsRequestAction.GRANT:
        refusal = grant_refusal(provider)
    if refusal is not None:
        # Everything in this transaction is undone; mfa.challenges records "mfa.completion_failed"
        # with this reason.
        raise CompletionRefused(refusal)
    permission, _ = EpcsPermission.objects.get_or_create(provider=provider)
    permission = EpcsPermission.objects.select_for_update().get(pk=permission.pk)
    now = timezone.now()
    if permission_request.action == EpcsRequestAction.GRANT:
        permission.state = EpcsPermissionState.GRANTED
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
    erx_cache.bump_section("epcs", provider.pk)
    permission_request.approved_by = approver
    permission_request.approval_challenge_id = challenge.pk
    permission_request.approval_device_label = challenge.device_label
    permission_request.save(update_fields=["approved_by", "approval_challenge_id", "approval_device_label"])
    _decide(permission_request, EpcsRequestStatus.APPROVED, approver, "Approved with 2FA")
    audit.record(
        action,
        actor=approver,
        target=permission,
        details={
            "provider_id": provider.pk,
            "request_id": permission_request.pk,
            "entered_by": permission_request.entered_by.get_username(),
            "approved_by": approver.get_username(),
            "challenge": str(challenge.pk),
            "device": challenge.device_label,
            "method": challenge.method,
        },
    )


# --- immediate revocations --------------------------------------------------------
@dataclass(frozen=True)
class LostDeviceReport:
    notice: EpcsAccessNotice
    revoked: bool


def report_lost_device(
    *, provider: Provider, description: str = "", request: HttpRequest | None = None
) -> LostDeviceReport:
    """DEA-04 / NIST-05: revoke EPCS at once, stop pending approvals, tell the access managers."""
    description = description.strip()[:200]
    actor = provider.user
    with transaction.atomic():
        permission = EpcsPermission.objects.select_for_update().filter(provider=provider).first()
        revoked = permission is not None and permission.is_granted
        now = timezone.now()
        if permission is not None and revoked:
            permission.state = EpcsPermissionState.REVOKED
            permission.revoked_at = now
            permission.revoked_reason = LOST_DEVICE_REASON
            permission.approved_by = None
            permission.save()
            erx_cache.bump_section("epcs", provider.pk)
        for pending in EpcsPermissionRequest.objects.select_for_update().filter(
            provider=provider, status=EpcsRequestStatus.PENDING
        ):
            _decide(pending, EpcsRequestStatus.CANCELLED, actor, "Cancelled: a lost or stolen device was reported")
        what = f" ({description})" if description else ""
        notice = EpcsAccessNotice.objects.create(
            provider=provider,
            message=(
                f"{provider} reported a lost or stolen device{what} on "
                f"{timezone.localtime(now):%m/%d/%Y %H:%M}. "
                + ("Their EPCS permission was revoked at once." if revoked else "They had no EPCS permission.")
            ),
        )
        audit.record(
            "epcs.device_reported_lost",
            actor=actor,
            target=provider,
            request=request,
            details={"description": description, "permission_revoked": revoked},
        )
        if revoked:
            audit.record(
                "epcs.permission_revoked",
                actor=actor,
                target=permission,
                request=request,
                details={"provider_id": provider.pk, "reason": "lost_device", "immediate": True},
            )
        transaction.on_commit(lambda: _after_lost_device(provider, notice, request))
    return LostDeviceReport(notice=notice, revoked=revoked)


def _after_lost_device(provider: Provider, notice: EpcsAccessNotice, request: HttpRequest | None) -> None:
    _cancel_pending_challenges(provider, request)
    notify_access_managers(notice, request)


def _cancel_pending_challenges(provider: Provider, request: HttpRequest | None) -> None:
    """Nothing waiting for this provider's 2FA may complete after the report."""
    from mfa import challenges
    from mfa.models import ChallengeStatus, VerificationChallenge

    for challenge in VerificationChallenge.objects.filter(provider=provider, status=ChallengeStatus.PENDING):
        try:
            challenges.cancel_challenge(challenge, request)
        except Exception:  # the revocation stands either way; signing checks the permission
            logger.exception("Could not cancel challenge %s after a lost-device report", challenge.pk)


def notify_access_managers(notice: EpcsAccessNotice, request: HttpRequest | None = None) -> int:
    """Email every access manager (the notice is on the EPCS Permissions page already)."""
    recipients = [user.email for user in access_managers() if user.email]
    if not recipients:
        audit.record(
            "epcs.access_managers_notify_failed",
            target=notice,
            outcome=Outcome.FAILURE,
            details={"reason": "no access manager has an email address"},
        )
        return 0
    try:
        sent = send_mail(
            subject="EPCS permission revoked: lost or stolen device",
            message=f"{notice.message}\n\nReview it on the EPCS Permissions page.",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
    except Exception as exc:  # the in-app notice still stands
        logger.warning("Could not email access managers: %s", exc)
        audit.record(
            "epcs.access_managers_notify_failed",
            target=notice,
            outcome=Outcome.FAILURE,
            details={"reason": str(exc)[:200]},
        )
        return 0
    audit.record("epcs.access_managers_notified", target=notice, details={"recipients": recipients})
    return sent


def dismiss_notice(*, actor: User, notice: EpcsAccessNotice, request: HttpRequest | None = None) -> None:
    if not is_access_manager(actor):
        _refuse(
            "epcs.notice_dismiss_refused",
            "Only an EPCS access manager can dismiss this notice.",
            actor=actor,
            target=notice,
            request=request,
            code="not_access_manager",
        )
    with transaction.atomic():
        locked = EpcsAccessNotice.objects.select_for_update().get(pk=notice.pk)
        if locked.dismissed_at is None:
            locked.dismissed_at = timezone.now()
            locked.dismissed_by = actor
            locked.save(update_fields=["dismissed_at", "dismissed_by"])
            audit.record("epcs.notice_dismissed", actor=actor, target=locked, request=request)


def revoke_without_current_registration(
    provider: Provider, *, reason: str, actor: Any = None, request: HttpRequest | None = None
) -> bool:
    """DEA-04: when the prescriber has no current DEA registration left, the permission ends.

    (Signing stops the same day anyway: providers.epcs checks the dates on every signing.)
    """
    with transaction.atomic():
        permission = EpcsPermission.objects.select_for_update().filter(provider=provider).first()
        if permission is None or not permission.is_granted or has_registration_in_force(provider):
            return False
        permission.state = EpcsPermissionState.REVOKED
        permission.revoked_at = timezone.now()
        permission.revoked_reason = reason[:300]
        permission.approved_by = None
        permission.save()
        erx_cache.bump_section("epcs", provider.pk)
        audit.record(
            "epcs.permission_revoked",
            actor=actor,
            target=permission,
            request=request,
            details={"provider_id": provider.pk, "reason": reason, "immediate": True},
        )
    return True


def revoke_lapsed_permissions(on: dt.date | None = None) -> int:
    """Daily sweep: revoke granted permissions of prescribers whose DEA registrations all expired."""
    on = on or today()
    count = 0
    for permission in EpcsPermission.objects.filter(state=EpcsPermissionState.GRANTED).select_related("provider"):
        if not has_registration_in_force(permission.provider, on):
            count += revoke_without_current_registration(
                permission.provider, reason="No current DEA registration (expired or revoked)"
            )
    return count


# --- demo data ----------------------------------------------------------------------
def seed_granted_permission(*, provider: Provider, entered_by: User, approved_by: User) -> bool:
    """Demo only: record a granted permission as seeded data. No 2FA happened, and the
    request and the audit trail say so ({"seeded": true}, no challenge id)."""
    with transaction.atomic():
        permission, _ = EpcsPermission.objects.get_or_create(provider=provider)
        permission = EpcsPermission.objects.select_for_update().get(pk=permission.pk)
        if permission.is_granted:
            return False
        now = timezone.now()
        permission_request = EpcsPermissionRequest.objects.create(
            provider=provider,
            action=EpcsRequestAction.GRANT,
            note="Seeded demo data",
            entered_by=entered_by,
            approved_by=approved_by,
            status=EpcsRequestStatus.APPROVED,
            decided_by=approved_by,
            decided_at=now,
            decision_reason="Seeded demo data: no 2FA took place",
        )
        permission.state = EpcsPermissionState.GRANTED
        permission.entered_by = entered_by
        permission.approved_by = approved_by
        permission.requested_at = now
        permission.granted_at = now
        permission.revoked_at = None
        permission.revoked_reason = ""
        permission.save()
        erx_cache.bump_section("epcs", provider.pk)
        audit.record(
            "epcs.permission_granted",
            actor=None,
            target=permission,
            details={
                "seeded": True,
                "provider_id": provider.pk,
                "request_id": permission_request.pk,
                "entered_by": entered_by.get_username(),
                "approved_by": approved_by.get_username(),
            },
        )
    return True
