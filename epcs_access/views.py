"""The EPCS Permissions Page and "Report lost or stolen device" (thin views; the services decide).

The page works inside the current practice (`practice_required`; ASVS-11): everything on it is
that practice's, and another practice's request or notice id is a 404.

- Access managers of the practice: its prescribers with identity, DEA and EPCS status; enter
  grant or revocation requests; cancel requests; lost-device notices.
- DEA registrants of the practice: the pending requests they may approve, approved with 2FA on
  their own device.
- Prescribers: their own status and requests in the practice.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from epcs_access import approvals
from epcs_access import lost_device as lost
from epcs_access import services as svc
from epcs_access.approvals import Decision
from epcs_access.forms import ApprovalCodeForm, EnterRequestForm
from epcs_access.services import RefusalCode
from idme_client import IdmeError
from mfa import challenges
from mfa.models import ChallengeMethod, ChallengeStatus, VerificationChallenge
from mfa.services import sync_devices
from providers import services
from providers.credentials.rules import has_current_registration
from providers.credentials.views import erx_info_url
from providers.epcs import epcs_block_reason, permission_for
from providers.models import (
    EpcsAccessNotice,
    EpcsPermission,
    EpcsPermissionRequest,
    EpcsRequestAction,
    EpcsRequestStatus,
    Practice,
    Provider,
)
from providers.practices import practice_required
from providers.reauth import ask_for_password, reauthentication_required
from providers.roles import is_access_manager, is_registrant, practice_providers, provider_of

PAGE_TEMPLATE = "epcs_access/permissions.html"
APPROVE_TEMPLATE = "epcs_access/approve.html"
REFUSED_TEMPLATE = "providers/refused.html"


def page_url() -> str:
    return reverse("epcs-permissions")


def _prescriber_rows(practice: Practice) -> list[dict[str, Any]]:
    """The practice's prescribers with their permission in this practice."""
    rows = []
    providers = practice_providers(practice).select_related("user").order_by("display_name")
    permissions = {
        p.provider_id: p
        for p in EpcsPermission.objects.filter(practice=practice, provider__in=providers).select_related("registration")
    }
    pending = {
        r.provider_id: r
        for r in EpcsPermissionRequest.objects.filter(
            practice=practice, status=EpcsRequestStatus.PENDING
        ).select_related("entered_by", "registration")
    }
    for provider in providers:
        permission = permissions.get(provider.pk)
        rows.append(
            {
                "provider": provider,
                "permission": permission,
                "has_current_dea": has_current_registration(provider),
                "pending": pending.get(provider.pk),
                "can_sign": epcs_block_reason(provider, practice, permission=permission) is None,
            }
        )
    return rows


def _is_prescriber(provider: Provider, practice: Practice) -> bool:
    """Someone EPCS status matters to here: has a DEA registration, a permission or a request."""
    return (
        provider.dea_registrations.exists()
        or permission_for(provider, practice) is not None
        or provider.epcs_requests.filter(practice=practice).exists()
    )


def _page(request: HttpRequest, enter_form: EnterRequestForm | None = None, status: int = 200) -> HttpResponse:
    user = services.signed_in_user(request)
    practice: Practice = request.practice  # type: ignore[attr-defined]
    manager = is_access_manager(user, practice)
    own = provider_of(user)
    context: dict[str, Any] = {
        "practice": practice,
        "is_manager": manager,
        "is_registrant": is_registrant(user, practice),
        "awaiting": svc.requests_awaiting(user, practice),
        "history": list(svc.visible_requests(user, practice)[:25]),
        "own_provider": own if own and _is_prescriber(own, practice) else None,
        "own_block_reason": epcs_block_reason(own, practice) if own else None,
    }
    if manager:
        context["prescribers"] = _prescriber_rows(practice)
        context["notices"] = list(
            EpcsAccessNotice.objects.filter(practice=practice, dismissed_at__isnull=True).select_related("provider")
        )
        context["enter_form"] = enter_form or EnterRequestForm(practice=practice)
    return render(request, PAGE_TEMPLATE, context, status=status)


def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, REFUSED_TEMPLATE, {"message": message, "page_heading": "EPCS Permissions"}, status=403)


def _visible_request(request: HttpRequest, pk: int) -> EpcsPermissionRequest:
    """A request of the current practice the signed-in person may see at all (others, and
    every other practice's: 404, ASVS-06, ASVS-11)."""
    user = services.signed_in_user(request)
    found = svc.visible_requests(user, request.practice).filter(pk=pk).first()  # type: ignore[attr-defined]
    if found is None:
        raise Http404("No such request")
    return found


@login_required
@practice_required
@require_http_methods(["GET"])
def permissions_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@practice_required
@require_POST
def enter_request(request: HttpRequest) -> HttpResponse:
    user = services.signed_in_user(request)
    practice: Practice = request.practice  # type: ignore[attr-defined]
    try:
        svc.require_access_manager_to_enter(user, practice, request)
    except svc.PermissionRefused as refusal:
        return _forbidden(request, refusal.message)
    form = EnterRequestForm(request.POST, practice=practice)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        svc.enter_request(
            actor=user,
            practice=practice,
            provider=form.cleaned_data["provider"],
            action=form.cleaned_data["action"],
            registration=form.cleaned_data["registration"],
            note=form.cleaned_data["note"],
            request=request,
        )
    except svc.PermissionRefused as refusal:
        form.add_error(None, refusal.message)
        return _page(request, form, status=400)
    messages.success(
        request, "The request has been entered. A second person who is a DEA registrant must approve it with 2FA."
    )
    return redirect(page_url())


@login_required
@practice_required
@require_POST
def cancel_request(request: HttpRequest, pk: int) -> HttpResponse:
    permission_request = _visible_request(request, pk)
    try:
        svc.cancel_request(
            actor=services.signed_in_user(request), permission_request=permission_request, request=request
        )
    except svc.PermissionRefused as refusal:
        return _forbidden(request, refusal.message)
    messages.success(request, "The request has been cancelled.")
    return redirect(page_url())


@login_required
@practice_required
@require_POST
def dismiss_notice(request: HttpRequest, pk: int) -> HttpResponse:
    # Only the current practice's notices exist here (another practice's: 404, ASVS-11).
    notice = get_object_or_404(EpcsAccessNotice, pk=pk, practice=request.practice)  # type: ignore[attr-defined]
    try:
        lost.dismiss_notice(actor=services.signed_in_user(request), notice=notice, request=request)
    except svc.PermissionRefused as refusal:
        return _forbidden(request, refusal.message)
    return redirect(page_url())


# --- Report lost or stolen device (DEA-04, NIST-05) --------------------------------
@login_required
@require_POST
@reauthentication_required
def lost_device(request: HttpRequest) -> HttpResponse:
    provider = services.current_provider(request)
    report = lost.report_lost_device(
        provider=provider, description=str(request.POST.get("description", ""))[:200], request=request
    )
    if report.revoked:
        messages.warning(
            request,
            "Your EPCS permission has been revoked at once in every practice and your access managers have been "
            "told. "
            "Remove the lost device at ID.me with Update MFA Device. "
            "EPCS must be granted again on the EPCS Permissions Page before you can sign.",
        )
    else:
        messages.warning(
            request,
            "Your report has been recorded and your access managers have been told. "
            "Remove the lost device at ID.me with Update MFA Device.",
        )
    return redirect(erx_info_url())


# --- approving with 2FA -------------------------------------------------------------
def _approval_context(
    request: HttpRequest,
    permission_request: EpcsPermissionRequest,
    challenge: VerificationChallenge | None,
    decision: Decision,
) -> dict[str, Any]:
    own = provider_of(services.signed_in_user(request))
    devices = approvals.own_devices(own)
    if own is not None and not devices and own.idme_uuid and challenge is None:
        # Nothing mirrored yet: ask ID.me once (the approver may have just set a device up).
        # If ID.me cannot answer, the page says there is no device; mfa records the failed sync.
        with contextlib.suppress(IdmeError):
            sync_devices(own, request)
        devices = approvals.own_devices(own)
    if challenge is not None:
        challenge = challenges.expire_if_overdue(challenge)
        decision = approvals.decision_of(challenge)
    return {
        "is_reject": decision is Decision.REJECT,
        "permission_request": permission_request,
        "devices": devices,
        "challenge": challenge,
        "code_form": ApprovalCodeForm(),
        "seconds_left": challenges.seconds_left(challenge) if challenge else 0,
        "is_code": challenge is not None and challenge.method == ChallengeMethod.CODE,
        "is_push": challenge is not None and challenge.method == ChallengeMethod.PUSH,
        "is_pending": challenge is not None and challenge.status == ChallengeStatus.PENDING,
        "status_message": challenges.status_message(challenge) if challenge else "",
    }


@login_required
@practice_required
@require_http_methods(["GET", "POST"])
def approve_request(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve with your password (last 15 minutes) and 2FA: choose your device, then enter a
    code or answer the push."""
    return _decision_page(request, pk, Decision.APPROVE)


@login_required
@practice_required
@require_http_methods(["GET", "POST"])
def reject_request(request: HttpRequest, pk: int) -> HttpResponse:
    """Reject the same way: a recent password entry and your 2FA (nothing else changes)."""
    return _decision_page(request, pk, Decision.REJECT)


def _decision_url(pk: int, decision: Decision, challenge: VerificationChallenge | None = None) -> str:
    url = reverse("epcs-reject" if decision is Decision.REJECT else "epcs-approve", kwargs={"pk": pk})
    return f"{url}?challenge={challenge.pk}" if challenge is not None else url


def _decision_page(request: HttpRequest, pk: int, decision: Decision) -> HttpResponse:
    permission_request = _visible_request(request, pk)
    challenge_id = request.POST.get("challenge") or request.GET.get("challenge")
    challenge = None
    if challenge_id:
        challenge = approvals.approval_challenge(
            approver=services.signed_in_user(request), permission_request=permission_request, challenge_id=challenge_id
        )
        if challenge is None:
            raise Http404("No such approval")
    if request.method == "GET":
        return _show(request, permission_request, challenge, decision)
    step = request.POST.get("step", "")
    if step == "start":
        return _start(request, permission_request, decision)
    if challenge is None:
        # Approval without 2FA is not a thing: every step below needs the approver's own challenge.
        refusal = "Approving needs two-factor authentication with your own ID.me device."
        svc.record_refusal(services.signed_in_user(request), permission_request, refusal, request)
        return _forbidden(request, refusal)
    steps = {"code": _code, "check": _check, "cancel": _cancel}
    if step not in steps:
        messages.error(request, "Unknown step.")
        return redirect(_decision_url(pk, decision, challenge))
    return steps[step](request, permission_request, challenge, decision)


def _show(
    request: HttpRequest,
    permission_request: EpcsPermissionRequest,
    challenge: VerificationChallenge | None,
    decision: Decision,
) -> HttpResponse:
    if challenge is not None and challenge.status == ChallengeStatus.APPROVED:
        return _done(request, permission_request)
    refusal = svc.approval_refusal(permission_request, services.signed_in_user(request))
    if refusal and challenge is None:
        return _forbidden(request, refusal)
    return render(request, APPROVE_TEMPLATE, _approval_context(request, permission_request, challenge, decision))


def _start(request: HttpRequest, permission_request: EpcsPermissionRequest, decision: Decision) -> HttpResponse:
    try:
        challenge = approvals.start_decision(
            approver=services.signed_in_user(request),
            permission_request=permission_request,
            device_id=_int(request.POST.get("device")),
            request=request,
            decision=decision,
            reason=str(request.POST.get("reason", ""))[:300],
        )
    except svc.PermissionRefused as refusal:
        if refusal.code is RefusalCode.REAUTHENTICATION_REQUIRED:
            return ask_for_password(request)  # the POST is kept and offered again afterwards
        if refusal.code is RefusalCode.CHALLENGE_ERROR:
            messages.error(request, refusal.message)
            return redirect(_decision_url(permission_request.pk, decision))
        return _forbidden(request, refusal.message)
    return redirect(_decision_url(permission_request.pk, decision, challenge))


def _code(
    request: HttpRequest,
    permission_request: EpcsPermissionRequest,
    challenge: VerificationChallenge,
    decision: Decision,
) -> HttpResponse:
    form = ApprovalCodeForm(request.POST)
    if not form.is_valid():
        context = _approval_context(request, permission_request, challenge, decision)
        context["code_form"] = form
        return render(request, APPROVE_TEMPLATE, context, status=400)
    outcome = challenges.submit_code(challenge, form.cleaned_data["code"], request=request)
    if outcome.approved:
        return _done(request, permission_request)
    messages.error(request, outcome.message)
    return redirect(_decision_url(permission_request.pk, decision, challenge))


def _check(
    request: HttpRequest,
    permission_request: EpcsPermissionRequest,
    challenge: VerificationChallenge,
    decision: Decision,
) -> HttpResponse:
    challenge = challenges.refresh_push(challenge)
    if challenge.status == ChallengeStatus.APPROVED:
        return _done(request, permission_request)
    return redirect(_decision_url(permission_request.pk, decision, challenge))


def _cancel(
    request: HttpRequest,
    permission_request: EpcsPermissionRequest,
    challenge: VerificationChallenge,
    decision: Decision,
) -> HttpResponse:
    challenges.cancel_challenge(challenge, request)
    messages.info(request, "The approval was cancelled. Nothing changed.")
    return redirect(_decision_url(permission_request.pk, decision))


def _done(request: HttpRequest, permission_request: EpcsPermissionRequest) -> HttpResponse:
    """The approver's 2FA was accepted: say what it decided and go back to the page."""
    permission_request.refresh_from_db()
    if permission_request.status == EpcsRequestStatus.REJECTED:
        message = "The request has been rejected. Nothing changed."
    elif permission_request.status == EpcsRequestStatus.APPROVED:
        verb = "granted" if permission_request.action == EpcsRequestAction.GRANT else "revoked"
        message = f"Approved. EPCS permission for {permission_request.provider} has been {verb}."
    else:
        message = "Your 2FA was accepted."
    messages.success(request, message)
    return redirect(page_url())


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None
