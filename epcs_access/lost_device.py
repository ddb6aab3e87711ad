"""The "Report lost or stolen device" report and the access managers' notices (DEA-04, NIST-05).

A report revokes EPCS at once (no second person), cancels pending approvals and 2FA
challenges, and tells the access managers on the EPCS Permissions page and by email.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

import audit
from audit.models import Outcome
from epcs_access.services import RefusalCode, decide, refuse
from mfa import challenges
from mfa.models import ChallengeStatus, VerificationChallenge
from providers import erx_cache
from providers.models import (
    EpcsAccessNotice,
    EpcsPermission,
    EpcsPermissionRequest,
    EpcsPermissionState,
    EpcsRequestStatus,
    Provider,
    User,
)
from providers.roles import access_managers, is_access_manager

logger = logging.getLogger(__name__)

LOST_DEVICE_REASON = "Lost or stolen device reported"


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
            erx_cache.bump_section(erx_cache.EPCS, provider.pk)
        for pending in EpcsPermissionRequest.objects.select_for_update().filter(
            provider=provider, status=EpcsRequestStatus.PENDING
        ):
            decide(pending, EpcsRequestStatus.CANCELLED, actor, "Cancelled: a lost or stolen device was reported")
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
        refuse(
            "epcs.notice_dismiss_refused",
            "Only an EPCS access manager can dismiss this notice.",
            actor=actor,
            target=notice,
            request=request,
            code=RefusalCode.NOT_ACCESS_MANAGER,
        )
    with transaction.atomic():
        locked = EpcsAccessNotice.objects.select_for_update().get(pk=notice.pk)
        if locked.dismissed_at is None:
            locked.dismissed_at = timezone.now()
            locked.dismissed_by = actor
            locked.save(update_fields=["dismissed_at", "dismissed_by"])
            audit.record("epcs.notice_dismissed", actor=actor, target=locked, request=request)
