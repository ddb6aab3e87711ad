"""The "Report lost or stolen device" report and the access managers' notices (DEA-04, NIST-05).

ID.me devices are personal and follow the person across practices, so a report revokes EPCS at
once (no second person) in *every* practice of the person, cancels their pending requests and
2FA challenges, and leaves a notice in each of their practices for that practice's access
managers (on the EPCS Permissions page and by email), each audited in that practice's chain.
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
    Membership,
    Practice,
    Provider,
    User,
)
from providers.roles import access_managers, is_access_manager

logger = logging.getLogger(__name__)

LOST_DEVICE_REASON = "Lost or stolen device reported"


@dataclass(frozen=True)
class LostDeviceReport:
    notices: list[EpcsAccessNotice]
    # The practices where a granted permission was revoked.
    revoked_in: list[Practice]

    @property
    def revoked(self) -> bool:
        return bool(self.revoked_in)


def _practices_of(provider: Provider) -> list[Practice]:
    """Every practice the person belongs to or holds an EPCS permission in, by name."""
    ids = set(Membership.objects.filter(user_id=provider.user_id).values_list("practice_id", flat=True))
    ids |= set(EpcsPermission.objects.filter(provider=provider).values_list("practice_id", flat=True))
    return list(Practice.objects.filter(pk__in=ids).order_by("name"))


def report_lost_device(
    *, provider: Provider, description: str = "", request: HttpRequest | None = None
) -> LostDeviceReport:
    """DEA-04 / NIST-05: revoke EPCS at once in every practice, stop pending approvals, tell
    each practice's access managers."""
    description = description.strip()[:200]
    actor = provider.user
    notices: list[EpcsAccessNotice] = []
    revoked_in: list[Practice] = []
    with transaction.atomic():
        now = timezone.now()
        permissions = {
            permission.practice_id: permission
            for permission in EpcsPermission.objects.select_for_update().filter(provider=provider)
        }
        for pending in EpcsPermissionRequest.objects.select_for_update().filter(
            provider=provider, status=EpcsRequestStatus.PENDING
        ):
            decide(pending, EpcsRequestStatus.CANCELLED, actor, "Cancelled: a lost or stolen device was reported")
        what = f" ({description})" if description else ""
        for practice in _practices_of(provider):
            permission = permissions.get(practice.pk)
            revoked = permission is not None and permission.is_granted
            if permission is not None and revoked:
                permission.state = EpcsPermissionState.REVOKED
                permission.revoked_at = now
                permission.revoked_reason = LOST_DEVICE_REASON
                permission.approved_by = None
                permission.save()
                revoked_in.append(practice)
            notice = EpcsAccessNotice.objects.create(
                provider=provider,
                practice=practice,
                message=(
                    f"{provider} reported a lost or stolen device{what} on "
                    f"{timezone.localtime(now):%m/%d/%Y %H:%M}. "
                    + (
                        "Their EPCS permission in this practice was revoked at once."
                        if revoked
                        else "They had no EPCS permission in this practice."
                    )
                ),
            )
            notices.append(notice)
            audit.record(
                "epcs.device_reported_lost",
                actor=actor,
                target=provider,
                request=request,
                chain=practice,
                details={"description": description, "permission_revoked": revoked, "practice_id": practice.pk},
            )
            if revoked:
                audit.record(
                    "epcs.permission_revoked",
                    actor=actor,
                    target=permission,
                    request=request,
                    chain=practice,
                    details={
                        "provider_id": provider.pk,
                        "practice_id": practice.pk,
                        "reason": "lost_device",
                        "immediate": True,
                    },
                )
        if not notices:
            # In no practice: nobody to tell, but the report itself is kept (chain of no practice).
            audit.record(
                "epcs.device_reported_lost",
                actor=actor,
                target=provider,
                request=request,
                chain=None,
                details={"description": description, "permission_revoked": False, "practice_id": None},
            )
        erx_cache.bump_section(erx_cache.EPCS, provider.pk)
        transaction.on_commit(lambda: _after_lost_device(provider, notices, request))
    return LostDeviceReport(notices=notices, revoked_in=revoked_in)


def _after_lost_device(provider: Provider, notices: list[EpcsAccessNotice], request: HttpRequest | None) -> None:
    _cancel_pending_challenges(provider, request)
    for notice in notices:
        notify_access_managers(notice, request)


def _cancel_pending_challenges(provider: Provider, request: HttpRequest | None) -> None:
    """Nothing waiting for this provider's 2FA may complete after the report."""
    for challenge in VerificationChallenge.objects.filter(provider=provider, status=ChallengeStatus.PENDING):
        try:
            challenges.cancel_challenge(challenge, request)
        except Exception:  # the revocation stands either way; signing checks the permission
            logger.exception("Could not cancel challenge %s after a lost-device report", challenge.pk)


def notify_access_managers(notice: EpcsAccessNotice, request: HttpRequest | None = None) -> int:
    """Email the access managers of the notice's practice (the notice is on that practice's
    EPCS Permissions page already); audited in the practice's chain."""
    recipients = [user.email for user in access_managers(notice.practice) if user.email]
    if not recipients:
        audit.record(
            "epcs.access_managers_notify_failed",
            target=notice,
            chain=notice.practice_id,
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
            chain=notice.practice_id,
            outcome=Outcome.FAILURE,
            details={"reason": str(exc)[:200]},
        )
        return 0
    audit.record(
        "epcs.access_managers_notified", target=notice, chain=notice.practice_id, details={"recipients": recipients}
    )
    return sent


def dismiss_notice(*, actor: User, notice: EpcsAccessNotice, request: HttpRequest | None = None) -> None:
    """An access manager of the notice's practice dismisses it (views find it in the current
    practice only: another practice's notice is a 404 there)."""
    if not is_access_manager(actor, notice.practice):
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
            audit.record("epcs.notice_dismissed", actor=actor, target=locked, request=request, chain=locked.practice_id)
