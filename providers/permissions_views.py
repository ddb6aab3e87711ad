"""The EPCS Permissions Page (thin views; providers.permissions_services decides).

- Access managers: every prescriber with identity, DEA and EPCS status; enter grant or
  revocation requests; cancel requests; lost-device notices.
- DEA registrants: the pending requests they may approve, approved with 2FA on their own device.
- Prescribers: their own status and requests.
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

from mfa import challenges
from mfa.models import ChallengeMethod, ChallengeStatus, ProviderDevice, VerificationChallenge
from providers import permissions_services as svc
from providers import services
from providers.epcs import epcs_block_reason, has_current_registration, permission_for
from providers.models import EpcsAccessNotice, EpcsPermissionRequest, Provider
from providers.permissions_forms import ApprovalCodeForm, EnterRequestForm
from providers.reauth import ask_for_password

PAGE_TEMPLATE = "providers/epcs/permissions.html"
APPROVE_TEMPLATE = "providers/epcs/approve.html"


def page_url() -> str:
    return reverse("epcs-permissions")


def _prescriber_rows() -> list[dict[str, Any]]:
    rows = []
    providers = Provider.objects.select_related("user", "epcs_permission").order_by("display_name")
    pending = {
        r.provider_id: r for r in EpcsPermissionRequest.objects.filter(status="pending").select_related("entered_by")
    }
    for provider in providers:
        permission = getattr(provider, "epcs_permission", None)
        rows.append(
            {
                "provider": provider,
                "permission": permission,
                "has_current_dea": has_current_registration(provider),
                "pending": pending.get(provider.pk),
                "can_sign": epcs_block_reason(provider) is None,
            }
        )
    return rows


def _is_prescriber(provider: Provider) -> bool:
    """Someone EPCS status matters to: has a DEA registration, a permission or a request."""
    return (
        provider.dea_registrations.exists() or permission_for(provider) is not None or provider.epcs_requests.exists()
    )


def _page(request: HttpRequest, enter_form: EnterRequestForm | None = None, status: int = 200) -> HttpResponse:
    user = services.signed_in_user(request)
    manager = svc.is_access_manager(user)
    own = svc.provider_of(user)
    context: dict[str, Any] = {
        "is_manager": manager,
        "is_registrant": svc.is_registrant(user),
        "awaiting": svc.requests_awaiting(user),
        "history": list(svc.visible_requests(user)[:25]),
        "own_provider": own if own and _is_prescriber(own) else None,
        "own_block_reason": epcs_block_reason(own) if own else None,
    }
    if manager:
        context["prescribers"] = _prescriber_rows()
        context["notices"] = list(EpcsAccessNotice.objects.filter(dismissed_at__isnull=True).select_related("provider"))
        context["enter_form"] = enter_form or EnterRequestForm()
    return render(request, PAGE_TEMPLATE, context, status=status)


@login_required
@require_http_methods(["GET"])
def permissions_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
def enter_request(request: HttpRequest) -> HttpResponse:
    user = services.signed_in_user(request)
    if not svc.is_access_manager(user):
        message = "Only an EPCS access manager can enter EPCS permission changes."
        svc.record_refusal(user, None, message, request, action="epcs.permission_request_refused")
        return _forbidden(request, message)
    form = EnterRequestForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        svc.enter_request(
            actor=user,
            provider=form.cleaned_data["provider"],
            action=form.cleaned_data["action"],
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


def _visible_request(request: HttpRequest, pk: int) -> EpcsPermissionRequest:
    """A request the signed-in person may see at all (others: 404, ASVS-06)."""
    user = services.signed_in_user(request)
    found = svc.visible_requests(user).filter(pk=pk).first()
    if found is None:
        raise Http404("No such request")
    return found


def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "providers/epcs/refused.html", {"message": message}, status=403)


@login_required
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
@require_POST
def dismiss_notice(request: HttpRequest, pk: int) -> HttpResponse:
    notice = get_object_or_404(EpcsAccessNotice, pk=pk)
    try:
        svc.dismiss_notice(actor=services.signed_in_user(request), notice=notice, request=request)
    except svc.PermissionRefused as refusal:
        return _forbidden(request, refusal.message)
    return redirect(page_url())


# --- approving with 2FA -------------------------------------------------------------
def _devices(provider: Provider | None) -> list[ProviderDevice]:
    if provider is None:
        return []
    return list(ProviderDevice.objects.filter(provider=provider).order_by("-is_primary", "added_at"))


def _approval_context(
    request: HttpRequest,
    permission_request: EpcsPermissionRequest,
    challenge: VerificationChallenge | None,
    decision: svc.Decision,
) -> dict[str, Any]:
    user = services.signed_in_user(request)
    own = svc.provider_of(user)
    devices = _devices(own)
    if own is not None and not devices and own.idme_uuid and challenge is None:
        # Nothing mirrored yet: ask ID.me once (the approver may have just set a device up).
        from idme_client import IdmeError
        from mfa.services import sync_devices

        # If ID.me cannot answer, the page says there is no device; mfa records the failed sync.
        with contextlib.suppress(IdmeError):
            sync_devices(own, request)
        devices = _devices(own)
    if challenge is not None:
        challenge = challenges.expire_if_overdue(challenge)
    if challenge is not None:
        decision = svc.decision_of(challenge)
    return {
        "is_reject": decision is svc.Decision.REJECT,
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
@require_http_methods(["GET", "POST"])
def approve_request(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve with your password (last 15 minutes) and 2FA: choose your device, then enter a
    code or answer the push."""
    return _decision_page(request, pk, svc.Decision.APPROVE)


@login_required
@require_http_methods(["GET", "POST"])
def reject_request(request: HttpRequest, pk: int) -> HttpResponse:
    """Reject the same way: a recent password entry and your 2FA (nothing else changes)."""
    return _decision_page(request, pk, svc.Decision.REJECT)


def _decision_url(pk: int, decision: svc.Decision) -> str:
    return reverse("epcs-reject" if decision is svc.Decision.REJECT else "epcs-approve", kwargs={"pk": pk})


def _decision_page(request: HttpRequest, pk: int, decision: svc.Decision) -> HttpResponse:
    user = services.signed_in_user(request)
    permission_request = _visible_request(request, pk)
    challenge_id = request.POST.get("challenge") or request.GET.get("challenge")
    challenge = (
        svc.approval_challenge(approver=user, permission_request=permission_request, challenge_id=challenge_id)
        if challenge_id
        else None
    )
    if challenge_id and challenge is None:
        raise Http404("No such approval")
    if request.method == "GET":
        if challenge is not None and challenge.status == ChallengeStatus.APPROVED:
            messages.success(request, _approved_message(permission_request))
            return redirect(page_url())
        refusal = svc.approval_refusal(permission_request, user)
        if refusal and challenge is None:
            return _forbidden(request, refusal)
        return render(request, APPROVE_TEMPLATE, _approval_context(request, permission_request, challenge, decision))

    step = request.POST.get("step", "")
    if step == "start":
        own = svc.provider_of(user)
        device_pk = _int(request.POST.get("device"))
        device = (
            ProviderDevice.objects.filter(provider=own, pk=device_pk).first() if own and device_pk is not None else None
        )
        if device is None:
            # Not one of the approver's own devices: refuse (and record) rather than 404.
            refusal = svc.approval_refusal(permission_request, user) or "Approve with one of your own ID.me devices."
            svc.record_refusal(user, permission_request, refusal, request)
            return _forbidden(request, refusal)
        try:
            challenge = svc.start_approval(
                approver=user,
                permission_request=permission_request,
                device=device,
                request=request,
                decision=decision,
                reason=str(request.POST.get("reason", ""))[:300],
            )
        except svc.PermissionRefused as refusal_error:
            if refusal_error.code == svc.REAUTHENTICATION_REQUIRED:
                return ask_for_password(request)  # the POST is kept and offered again afterwards
            if refusal_error.code == "challenge_error":
                messages.error(request, refusal_error.message)
                return redirect(_decision_url(pk, decision))
            return _forbidden(request, refusal_error.message)
        return redirect(f"{_decision_url(pk, decision)}?challenge={challenge.pk}")
    if challenge is None:
        # Approval without 2FA is not a thing: every step below needs the approver's own challenge.
        refusal = "Approving needs two-factor authentication with your own ID.me device."
        svc.record_refusal(user, permission_request, refusal, request)
        return _forbidden(request, refusal)
    if step == "code":
        form = ApprovalCodeForm(request.POST)
        if not form.is_valid():
            context = _approval_context(request, permission_request, challenge, decision)
            context["code_form"] = form
            return render(request, APPROVE_TEMPLATE, context, status=400)
        outcome = challenges.submit_code(challenge, form.cleaned_data["code"], request=request)
        if outcome.approved:
            messages.success(request, _approved_message(permission_request))
            return redirect(page_url())
        messages.error(request, outcome.message)
    elif step == "check":
        challenge = challenges.refresh_push(challenge)
        if challenge.status == ChallengeStatus.APPROVED:
            messages.success(request, _approved_message(permission_request))
            return redirect(page_url())
    elif step == "cancel":
        challenges.cancel_challenge(challenge, request)
        messages.info(request, "The approval was cancelled. Nothing changed.")
        return redirect(_decision_url(pk, decision))
    else:
        messages.error(request, "Unknown step.")
    return redirect(f"{_decision_url(pk, decision)}?challenge={challenge.pk}")


def _approved_message(permission_request: EpcsPermissionRequest) -> str:
    permission_request.refresh_from_db()
    if permission_request.status == "rejected":
        return "The request has been rejected. Nothing changed."
    if permission_request.status == "approved":
        verb = "granted" if permission_request.action == "grant" else "revoked"
        return f"Approved. EPCS permission for {permission_request.provider} has been {verb}."
    return "Your 2FA was accepted."


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None
