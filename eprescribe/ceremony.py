"""The EPCS signing ceremony: one page with the DEA review, the DEA statement and the 2FA
step (code entry or push wait) together (DEA-06, DEA-09, DEA-10).

A ceremony is a uuid kept in the clinician's session with the prescription ids it covers;
its challenges (mfa.challenges) have the subject "ceremony:<uuid>". The page asks only the
EHR (a JSON status endpoint), never ID.me.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

import audit
from audit.models import Outcome
from eprescribe import ceremony_selection as selection
from mfa import challenges
from mfa.models import ChallengeMethod, ChallengeStatus, DeviceKind, ProviderDevice, VerificationChallenge
from providers import services as people
from providers.models import Provider
from providers.reauth import AUTHENTICATED_AT_KEY, reauthentication_url

SESSION_KEY = "epcs_ceremonies"
MAX_CEREMONIES_IN_SESSION = 20
DEA_STATEMENT = (
    "By completing the two-factor authentication protocol at this time, you are legally signing the "
    "prescription(s) and authorizing the transmission of the above information to the pharmacy for "
    "dispensing. The two-factor authentication protocol may only be completed by the practitioner whose "
    "name and DEA registration number appear above."
)
SEVERAL_GENERATORS_NOTE = (
    "You have more than one code generator. Choose the device you will read the code from: "
    "the codes on each device will be different."
)


def subject_for(ceremony_id: uuid.UUID) -> str:
    return f"ceremony:{ceremony_id}"


def _provider(request: HttpRequest) -> Provider:
    return people.current_provider(request)


def _signed_in_recently_enough(request: HttpRequest) -> bool:
    """DEA-01 / NIST-07: the password factor is a sign-in within the session limits."""
    authenticated_at = request.session.get(AUTHENTICATED_AT_KEY)
    return authenticated_at is not None and time.time() - float(authenticated_at) <= settings.SESSION_COOKIE_AGE


def _ceremony_ids(request: HttpRequest, provider: Provider, ceremony_id: uuid.UUID) -> list[int]:
    """The prescription ids of a ceremony of this provider; 404 for anyone else's (ASVS-06)."""
    stored = request.session.get(SESSION_KEY, {}).get(str(ceremony_id))
    if stored and stored.get("provider") == provider.pk:
        return [int(i) for i in stored["ids"]]
    challenge = (
        VerificationChallenge.objects.filter(
            provider=provider, purpose=selection.PURPOSE, subject=subject_for(ceremony_id)
        )
        .order_by("-created_at")
        .first()
    )
    if challenge is None:
        raise Http404("No such signing")
    return [int(i) for i in challenge.context.get("prescription_ids", [])]


def _latest_challenge(provider: Provider, ceremony_id: uuid.UUID) -> VerificationChallenge | None:
    challenge = (
        VerificationChallenge.objects.filter(
            provider=provider, purpose=selection.PURPOSE, subject=subject_for(ceremony_id)
        )
        .select_related("device")
        .order_by("-created_at")
        .first()
    )
    return challenges.expire_if_overdue(challenge) if challenge else None


def _prescriptions_url() -> str:
    try:
        return reverse("eprescribe:prescriptions")
    except Exception:
        return reverse("home")


# --- start -------------------------------------------------------------------
@login_required
@require_POST
def ceremony_start(request: HttpRequest) -> HttpResponse:
    """'Sign selected' on the prescriptions list: check the selection, open the review."""
    provider = _provider(request)
    try:
        ids = selection.parse_ids(request.POST.getlist("prescription"))
        selection.load_selection(provider, ids)
    except selection.SelectionError as exc:
        audit.record(
            "eprescribe.signing_refused",
            request=request,
            outcome=Outcome.DENIED,
            details={"reason": str(exc), "prescriptions": request.POST.getlist("prescription")[:50]},
        )
        return render(
            request,
            "eprescribe/ceremony_refused.html",
            {"message": str(exc), "back_url": _prescriptions_url()},
            status=404 if exc.not_found else 400,
        )
    ceremony_id = uuid.uuid4()
    ceremonies = dict(request.session.get(SESSION_KEY, {}))
    while len(ceremonies) >= MAX_CEREMONIES_IN_SESSION:
        ceremonies.pop(next(iter(ceremonies)))
    ceremonies[str(ceremony_id)] = {"ids": ids, "provider": provider.pk}
    request.session[SESSION_KEY] = ceremonies
    audit.record(
        "eprescribe.signing_review_opened",
        request=request,
        target=("eprescribe.ceremony", ceremony_id),
        details={"prescriptions": ids},
    )
    return redirect("eprescribe:ceremony", ceremony_id=ceremony_id)


# --- the page ------------------------------------------------------------------
def _devices(provider: Provider) -> list[ProviderDevice]:
    try:
        from mfa.services import devices_for

        return list(devices_for(provider))
    except ImportError:
        return list(ProviderDevice.objects.filter(provider=provider))


def _primary(provider: Provider, devices: list[ProviderDevice]) -> ProviderDevice | None:
    try:
        from mfa.services import primary_device

        return primary_device(provider)
    except ImportError:
        return next((d for d in devices if d.is_primary), None)


def _render_page(
    request: HttpRequest,
    provider: Provider,
    ceremony_id: uuid.UUID,
    *,
    error: str = "",
    chosen_device: int | None = None,
    status: int = 200,
) -> HttpResponse:
    ids = _ceremony_ids(request, provider, ceremony_id)
    challenge = _latest_challenge(provider, ceremony_id)
    signed = challenge is not None and challenge.status == ChallengeStatus.APPROVED
    prescriptions: list[Any]
    block_reason = ""
    if signed:
        prescriptions = selection.stored_selection(provider, ids)
    else:
        try:
            prescriptions = selection.load_selection(provider, ids)
        except selection.SelectionError as exc:
            if exc.not_found:
                raise Http404("No such signing") from exc
            block_reason = str(exc)
            prescriptions = selection.stored_selection(provider, ids)
    devices = _devices(provider)
    primary = _primary(provider, devices)
    totp_devices = [d for d in devices if d.kind == DeviceKind.TOTP]
    push_devices = [d for d in devices if d.kind == DeviceKind.PUSH]
    if chosen_device is None:
        chosen_device = primary.pk if primary else (devices[0].pk if devices else None)
    push_first = bool(primary and primary.kind == DeviceKind.PUSH)
    chosen_totp = next(
        (d.pk for d in totp_devices if d.pk == chosen_device), totp_devices[0].pk if totp_devices else None
    )
    chosen_push = next(
        (d.pk for d in push_devices if d.pk == chosen_device), push_devices[0].pk if push_devices else None
    )
    waiting = (
        challenge is not None
        and challenge.status == ChallengeStatus.PENDING
        and challenge.method == ChallengeMethod.PUSH
    )
    ended = challenge is not None and challenge.status == ChallengeStatus.FAILED
    outcome_message = ""
    if challenge is not None and challenge.status in (
        ChallengeStatus.DENIED,
        ChallengeStatus.EXPIRED,
        ChallengeStatus.FAILED,
        ChallengeStatus.CANCELLED,
    ):
        outcome_message = challenges.status_message(challenge)
    context = {
        "ceremony_id": ceremony_id,
        "review": selection.build_review(provider, prescriptions) if prescriptions else None,
        "statement": DEA_STATEMENT,
        "challenge": challenge,
        "signed": signed,
        "waiting": waiting,
        "ended": ended,
        "block_reason": block_reason,
        "error": error,
        "outcome_message": outcome_message,
        "totp_devices": totp_devices,
        "push_devices": push_devices,
        "chosen_totp": chosen_totp,
        "chosen_push": chosen_push,
        "push_first": push_first,
        "several_generators_note": SEVERAL_GENERATORS_NOTE,
        "seconds_left": challenges.seconds_left(challenge) if challenge else 0,
        "prescriptions_url": _prescriptions_url(),
    }
    return render(request, "eprescribe/ceremony.html", context, status=status)


@login_required
@require_GET
def ceremony_page(request: HttpRequest, ceremony_id: uuid.UUID) -> HttpResponse:
    return _render_page(request, _provider(request), ceremony_id)


def _ready_to_sign(request: HttpRequest, provider: Provider, ceremony_id: uuid.UUID) -> tuple[list[Any], str | None]:
    """The ceremony's prescriptions if signing may start now, else the reason it may not."""
    ids = _ceremony_ids(request, provider, ceremony_id)
    try:
        prescriptions = selection.load_selection(provider, ids)
    except selection.SelectionError as exc:
        if exc.not_found:
            raise Http404("No such signing") from exc
        return [], str(exc)
    unavailable = selection.unavailable_reason()
    if unavailable:
        return [], unavailable
    return prescriptions, None


def _device_of(provider: Provider, raw: str | None, kind: str) -> ProviderDevice | None:
    if not raw or not str(raw).isdigit():
        return None
    return ProviderDevice.objects.filter(provider=provider, pk=int(raw), kind=kind).first()


def _refuse(request: HttpRequest, provider: Provider, ceremony_id: uuid.UUID, reason: str, **kw: Any) -> HttpResponse:
    audit.record(
        "eprescribe.signing_refused",
        request=request,
        outcome=Outcome.DENIED,
        target=("eprescribe.ceremony", ceremony_id),
        details={"reason": reason},
    )
    return _render_page(request, provider, ceremony_id, error=reason, status=400, **kw)


@login_required
@require_POST
def ceremony_code(request: HttpRequest, ceremony_id: uuid.UUID) -> HttpResponse:
    """'Enter the 6-digit code': check it with ID.me; success signs (DEA-11)."""
    provider = _provider(request)
    if not _signed_in_recently_enough(request):
        return HttpResponseRedirect(reauthentication_url(request.path))
    device = _device_of(provider, request.POST.get("device"), DeviceKind.TOTP)
    if device is None:
        return _refuse(request, provider, ceremony_id, "Choose one of your code generators.")
    prescriptions, reason = _ready_to_sign(request, provider, ceremony_id)
    if reason:
        return _refuse(request, provider, ceremony_id, reason, chosen_device=device.pk)
    try:
        challenge = challenges.start_code_challenge(
            provider=provider,
            device=device,
            purpose=selection.PURPOSE,
            subject=subject_for(ceremony_id),
            context={"prescription_ids": [p.pk for p in prescriptions]},
            request=request,
        )
    except challenges.ChallengeError as exc:
        return _render_page(request, provider, ceremony_id, error=str(exc), chosen_device=device.pk, status=409)
    outcome = challenges.submit_code(challenge, request.POST.get("code", ""), request=request)
    if outcome.approved:
        return redirect("eprescribe:ceremony", ceremony_id=ceremony_id)
    status = {"busy": 409, "locked": 423, "unavailable": 503}.get(outcome.result, 400)
    return _render_page(request, provider, ceremony_id, error=outcome.message, chosen_device=device.pk, status=status)


@login_required
@require_POST
def ceremony_push(request: HttpRequest, ceremony_id: uuid.UUID) -> HttpResponse:
    """Send (or resend) a push to the chosen device; the page then waits for the answer."""
    provider = _provider(request)
    if not _signed_in_recently_enough(request):
        return HttpResponseRedirect(reauthentication_url(request.path))
    device = _device_of(provider, request.POST.get("device"), DeviceKind.PUSH)
    if device is None:
        return _refuse(request, provider, ceremony_id, "Choose one of your push notification devices.")
    prescriptions, reason = _ready_to_sign(request, provider, ceremony_id)
    if reason:
        return _refuse(request, provider, ceremony_id, reason, chosen_device=device.pk)
    title, message = selection.push_summary(prescriptions)
    try:
        challenges.start_push_challenge(
            provider=provider,
            device=device,
            purpose=selection.PURPOSE,
            subject=subject_for(ceremony_id),
            title=title,
            message=message,
            context={"prescription_ids": [p.pk for p in prescriptions]},
            request=request,
        )
    except challenges.ChallengeError as exc:
        return _render_page(request, provider, ceremony_id, error=str(exc), chosen_device=device.pk, status=409)
    return redirect("eprescribe:ceremony", ceremony_id=ceremony_id)


@login_required
@require_POST
def ceremony_cancel(request: HttpRequest, ceremony_id: uuid.UUID) -> HttpResponse:
    provider = _provider(request)
    _ceremony_ids(request, provider, ceremony_id)
    challenge = _latest_challenge(provider, ceremony_id)
    if challenge is not None and challenge.is_pending:
        challenges.cancel_challenge(challenge, request=request)
    return redirect("eprescribe:ceremony", ceremony_id=ceremony_id)


@login_required
@require_GET
def ceremony_status(request: HttpRequest, ceremony_id: uuid.UUID) -> JsonResponse:
    """What the waiting page needs, from the EHR's own records (the browser never asks ID.me)."""
    provider = _provider(request)
    try:
        _ceremony_ids(request, provider, ceremony_id)
    except Http404:
        return JsonResponse({"error": "not_found", "error_description": "No such signing."}, status=404)
    challenge = _latest_challenge(provider, ceremony_id)
    if challenge is None:
        return JsonResponse({"status": "none", "message": "", "seconds_left": 0, "match_number": ""})
    if challenge.is_pending and challenge.method == ChallengeMethod.PUSH:
        from mfa.tasks import ensure_push_poller

        ensure_push_poller()
    return JsonResponse(
        {
            "status": challenge.status,
            "method": challenge.method,
            "message": "" if challenge.is_pending else challenges.status_message(challenge),
            "seconds_left": challenges.seconds_left(challenge),
            "match_number": challenge.match_number,
        }
    )
