"""EPCS permissions: who may enter, approve and see a two-person change, entering and
cancelling it, and the daily sweep (DEA-02, DEA-03, DEA-04, ASVS-11; docs/epcs-permissions.md).

Everything happens inside one practice (the `practice` argument): a permission, its requests
and notices belong to it.

- Only an *access manager of the practice* (`providers.roles.is_access_manager`) enters a grant
  or revocation, and only for a prescriber of that practice. A grant may name which of the
  prescriber's own DEA registrations is used in the practice.
- A grant may be entered and approved only while the prescriber's identity is IAL2-confirmed
  through ID.me and they hold a current DEA registration verified against the DEA registry
  (the named one, when the grant names one).
- A *second person* approves: a DEA registrant *of the same practice* (a prescriber there with a
  current, verified registration; `providers.roles.is_registrant`) who is neither the person who
  entered the request nor the prescriber, with their password entered in the last 15 minutes
  and a 2FA challenge on their own ID.me device (`epcs_access.approvals`).
- "Report lost or stolen device" revokes at once (`epcs_access.lost_device`).
- Every decision, granted or refused, is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, NoReturn

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

import audit
from audit.models import Outcome
from providers import erx_cache
from providers.credentials.rules import (
    has_current_registration,
    has_registration_in_force,
    registration_block_reason,
    today,
)
from providers.epcs import revoke_without_current_registration
from providers.models import (
    DeaRegistration,
    EpcsPermission,
    EpcsPermissionRequest,
    EpcsPermissionState,
    EpcsRequestAction,
    EpcsRequestStatus,
    Practice,
    Provider,
    User,
)
from providers.roles import is_access_manager, is_registrant, practice_providers


class RefusalCode(StrEnum):
    """Why an EPCS permission step was refused (`PermissionRefused.code`)."""

    INVALID_ACTION = "invalid_action"
    NOT_ACCESS_MANAGER = "not_access_manager"
    NOT_ALLOWED = "not_allowed"
    # The approver's last password entry is older than 15 minutes.
    REAUTHENTICATION_REQUIRED = "reauthentication_required"
    # mfa could not start the 2FA challenge (e.g. ID.me unreachable); nothing changed.
    CHALLENGE_ERROR = "challenge_error"


class PermissionRefused(Exception):
    """The change is not allowed; the message is for the person who tried."""

    def __init__(self, message: str, code: RefusalCode = RefusalCode.NOT_ALLOWED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


NOT_ACCESS_MANAGER_TO_ENTER = "Only an EPCS access manager can enter EPCS permission changes."


# --- the rules ----------------------------------------------------------------------
def grant_refusal(
    provider: Provider, on: dt.date | None = None, registration: DeaRegistration | None = None
) -> str | None:
    """Why `provider` cannot be granted EPCS now (DEA-02), or None. When the grant names the
    DEA registration used in the practice, it must be the prescriber's own and count."""
    if not provider.identity_confirmed:
        return f"{provider} cannot be granted EPCS: their identity is not confirmed at IAL2 through ID.me."
    if registration is not None:
        if registration.provider_id != provider.pk:
            return f"DEA registration {registration.number} is not {provider}'s. Choose one of their own."
        reason = registration_block_reason(registration, on or today())
        if reason is not None:
            return f"{provider} cannot be granted EPCS with DEA registration {registration.number}: {reason}"
        return None
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
    if (
        permission_request.action == EpcsRequestAction.GRANT
        and not practice_providers(permission_request.practice).filter(pk=permission_request.provider_id).exists()
    ):
        return f"{permission_request.provider} is no longer a prescriber of this practice."
    if not is_registrant(approver, permission_request.practice):
        return (
            "Only a DEA registrant of this practice with a current DEA registration verified against the DEA "
            "registry can approve EPCS permission changes."
        )
    return None


# --- what each person sees ------------------------------------------------------------
def pending_request_for(provider: Provider, practice: Practice | None) -> EpcsPermissionRequest | None:
    if practice is None:
        return None
    return EpcsPermissionRequest.objects.filter(
        provider=provider, practice=practice, status=EpcsRequestStatus.PENDING
    ).first()


def requests_awaiting(approver: Any, practice: Practice | None) -> list[EpcsPermissionRequest]:
    """Pending requests of `practice` that `approver` may approve."""
    if not is_registrant(approver, practice):
        return []
    pending = EpcsPermissionRequest.objects.filter(practice=practice, status=EpcsRequestStatus.PENDING).select_related(
        "provider__user", "entered_by", "practice"
    )
    return [r for r in pending if approval_refusal(r, approver) is None]


def visible_requests(user: Any, practice: Practice | None) -> QuerySet[EpcsPermissionRequest]:
    """Object-level access (ASVS-06, ASVS-11): only requests of `practice`; its access managers
    see all of them; anyone else sees the requests about themselves, the ones they entered and
    the pending ones they may approve. Outside any practice: none."""
    base = EpcsPermissionRequest.objects.filter(practice=practice).select_related(
        "provider__user", "entered_by", "approved_by", "practice", "registration"
    )
    if practice is None:
        return base.none()
    if is_access_manager(user, practice):
        return base
    awaiting = [r.pk for r in requests_awaiting(user, practice)]
    return base.filter(Q(provider__user_id=user.pk) | Q(entered_by_id=user.pk) | Q(pk__in=awaiting))


# --- refusals -------------------------------------------------------------------------
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


def refuse(
    action: str, message: str, *, actor: Any, target: Any, request: HttpRequest | None, code: RefusalCode
) -> NoReturn:
    """Record the refusal (DEA-13) and raise it."""
    record_refusal(actor, target, message, request, action=action)
    raise PermissionRefused(message, code)


def require_access_manager_to_enter(actor: Any, practice: Practice | None, request: HttpRequest | None) -> None:
    """Only an access manager of the practice enters changes; anyone else is refused (and audited)."""
    if not is_access_manager(actor, practice):
        refuse(
            "epcs.permission_request_refused",
            NOT_ACCESS_MANAGER_TO_ENTER,
            actor=actor,
            target=None,
            request=request,
            code=RefusalCode.NOT_ACCESS_MANAGER,
        )


def decide(permission_request: EpcsPermissionRequest, status: EpcsRequestStatus, actor: Any, reason: str) -> None:
    permission_request.status = status
    permission_request.decided_by = actor if getattr(actor, "pk", None) else None
    permission_request.decided_at = timezone.now()
    permission_request.decision_reason = reason[:300]
    permission_request.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    erx_cache.bump_section(erx_cache.EPCS, permission_request.provider_id)


# --- entering and cancelling ------------------------------------------------------------
def _entry_refusal(
    provider: Provider,
    practice: Practice,
    action: EpcsRequestAction,
    permission: EpcsPermission | None,
    registration: DeaRegistration | None,
) -> str | None:
    granted = permission is not None and permission.is_granted
    if pending_request_for(provider, practice) is not None:
        return f"{provider} already has a pending EPCS permission request. Approve, reject or cancel it first."
    if action == EpcsRequestAction.GRANT:
        return f"{provider} already has EPCS permission." if granted else grant_refusal(provider, None, registration)
    if registration is not None:
        return "A revocation names no DEA registration: leave it empty."
    if not granted:
        return f"{provider} does not have EPCS permission, so there is nothing to revoke."
    return None


NOT_A_PRESCRIBER_HERE = "Choose a prescriber of this practice."


def enter_request(
    *,
    actor: User,
    practice: Practice,
    provider: Provider,
    action: str,
    registration: DeaRegistration | None = None,
    note: str = "",
    request: HttpRequest | None = None,
) -> EpcsPermissionRequest:
    """An access manager of `practice` enters a grant or revocation for one of its prescribers
    (a grant may name the DEA registration used there); it waits for a second person."""
    if action not in EpcsRequestAction.values:
        raise PermissionRefused("Choose grant or revoke.", RefusalCode.INVALID_ACTION)
    if not is_access_manager(actor, practice):
        refuse(
            "epcs.permission_request_refused",
            NOT_ACCESS_MANAGER_TO_ENTER,
            actor=actor,
            target=provider,
            request=request,
            code=RefusalCode.NOT_ACCESS_MANAGER,
        )
    change = EpcsRequestAction(action)
    if not practice_providers(practice).filter(pk=provider.pk).exists():
        refuse(
            "epcs.permission_request_refused",
            NOT_A_PRESCRIBER_HERE,
            actor=actor,
            target=provider,
            request=request,
            code=RefusalCode.NOT_ALLOWED,
        )
    try:
        with transaction.atomic():
            # One change at a time per prescriber: lock the prescriber's row.
            Provider.objects.select_for_update().filter(pk=provider.pk).first()
            permission = EpcsPermission.objects.filter(provider=provider, practice=practice).first()
            refusal = _entry_refusal(provider, practice, change, permission, registration)
            if refusal is None:
                permission_request = EpcsPermissionRequest.objects.create(
                    provider=provider,
                    practice=practice,
                    action=change,
                    registration=registration,
                    note=note[:300],
                    entered_by=actor,
                )
                if change == EpcsRequestAction.GRANT:
                    permission = permission or EpcsPermission(provider=provider, practice=practice)
                    permission.requested_at = timezone.now()
                    permission.save()
                audit.record(
                    "epcs.permission_request_entered",
                    actor=actor,
                    target=permission_request,
                    request=request,
                    chain=practice,
                    details={
                        "action": change.value,
                        "provider_id": provider.pk,
                        "practice_id": practice.pk,
                        "registration": registration.number if registration else None,
                        "note": note[:300],
                    },
                )
                erx_cache.bump_section(erx_cache.EPCS, provider.pk)
                return permission_request
    except IntegrityError:
        refusal = f"{provider} already has a pending EPCS permission request."
    refuse(
        "epcs.permission_request_refused",
        refusal,
        actor=actor,
        target=provider,
        request=request,
        code=RefusalCode.NOT_ALLOWED,
    )


def cancel_request(
    *, actor: User, permission_request: EpcsPermissionRequest, request: HttpRequest | None = None
) -> EpcsPermissionRequest:
    """The person who entered it, or an access manager of its practice, withdraws a pending request."""
    with transaction.atomic():
        locked = EpcsPermissionRequest.objects.select_for_update().get(pk=permission_request.pk)
        if actor.pk != locked.entered_by_id and not is_access_manager(actor, locked.practice):
            message = "Only the person who entered this request or an EPCS access manager can cancel it."
        elif not locked.is_pending:
            message = "This request is no longer pending."
        else:
            decide(locked, EpcsRequestStatus.CANCELLED, actor, "Cancelled")
            audit.record(
                "epcs.permission_request_cancelled",
                actor=actor,
                target=locked,
                request=request,
                chain=locked.practice_id,
            )
            return locked
    refuse(
        "epcs.permission_request_cancel_refused",
        message,
        actor=actor,
        target=permission_request,
        request=request,
        code=RefusalCode.NOT_ALLOWED,
    )


# --- the daily sweep (DEA-04) ---------------------------------------------------------------
def revoke_lapsed_permissions(on: dt.date | None = None) -> int:
    """Daily sweep (DEA-04): revoke granted permissions of prescribers whose DEA registrations
    all expired (in every practice), and a practice's permission whose named registration expired
    or was revoked; each audited in its practice's chain. Returns how many prescribers or
    permissions were revoked."""
    on = on or today()
    count = 0
    for permission in EpcsPermission.objects.filter(state=EpcsPermissionState.GRANTED).select_related("provider"):
        if not has_registration_in_force(permission.provider, on):
            count += revoke_without_current_registration(
                permission.provider, reason="No current DEA registration (expired or revoked)"
            )
    named = EpcsPermission.objects.filter(state=EpcsPermissionState.GRANTED, registration__isnull=False)
    for permission in named.filter(Q(registration__revoked_at__isnull=False) | Q(registration__expires_on__lte=on)):
        count += _revoke_for_named_registration(permission.pk, on)
    return count


def _revoke_for_named_registration(permission_id: int, on: dt.date) -> int:
    with transaction.atomic():
        permission = (
            EpcsPermission.objects.select_for_update(of=("self",)).select_related("registration").get(pk=permission_id)
        )
        registration = permission.registration
        if not permission.is_granted or registration is None:
            return 0
        if registration.revoked_at is None and registration.expires_on > on:
            return 0
        reason = f"DEA registration {registration.number}, used in this practice, expired or was revoked"
        permission.state = EpcsPermissionState.REVOKED
        permission.revoked_at = timezone.now()
        permission.revoked_reason = reason[:300]
        permission.approved_by = None
        permission.save()
        audit.record(
            "epcs.permission_revoked",
            target=permission,
            chain=permission.practice_id,
            details={
                "provider_id": permission.provider_id,
                "practice_id": permission.practice_id,
                "registration": registration.number,
                "reason": reason,
                "immediate": True,
            },
        )
        erx_cache.bump_section(erx_cache.EPCS, permission.provider_id)
    return 1
