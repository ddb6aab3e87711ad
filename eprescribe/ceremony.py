"""The EPCS signing ceremony: one page with the DEA review, the DEA statement and the 2FA
step (code entry or push wait) together (DEA-06, DEA-09, DEA-10).

A ceremony (models.SigningCeremony) is bound, when its review opens, to the digests of what
the review shows (eprescribe.ceremony_binding, DEA-19); its challenges (mfa.challenges) have
the subject "ceremony:<uuid>". A change after the review ends it: the page and the status
endpoint say which prescription changed and offer to review again. The page asks only the
EHR (a JSON status endpoint), never ID.me.
"""

from __future__ import annotations

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
from eprescribe import ceremony_binding as binding
from eprescribe import ceremony_selection as selection
from eprescribe.models import CeremonyEnd, CeremonyState, Prescription, SigningCeremony
from mfa import challenges
from mfa.models import ChallengeMethod, ChallengeStatus, DeviceKind, ProviderDevice, VerificationChallenge
from mfa.outcomes import http_status
from mfa.services import MirrorReadiness, devices_for, ensure_mirror, primary_device
from mfa.tasks import ensure_push_poller
from providers import services as people
from providers.models import Practice, Provider
from providers.practices import practice_required
from providers.reauth import authenticated_within, reauthentication_url

DEA_STATEMENT = binding.DEA_STATEMENT
SEVERAL_GENERATORS_NOTE = (
    "You have more than one code generator. Choose the device you will read the code from: "
    "the codes on each device will be different."
)
CHECKING_DEVICES_MESSAGE = (
    "Checking your devices at ID.me: ID.me cannot be reached right now. Refresh this page in a moment."
)
subject_for = binding.subject_for


def _provider(request: HttpRequest) -> Provider:
    return people.current_provider(request)


def _signed_in_recently_enough(request: HttpRequest) -> bool:
    """DEA-01 / NIST-07: the password factor is a sign-in within the session limits."""
    return authenticated_within(request, settings.SESSION_COOKIE_AGE)


def _practice(request: HttpRequest) -> Practice:
    """The practice the request works in (every view here is `practice_required`)."""
    practice: Practice | None = getattr(request, "practice", None)
    if practice is None:
        raise Http404("No practice chosen")
    return practice


def _ceremony(request: HttpRequest, provider: Provider, ceremony_id: uuid.UUID) -> SigningCeremony:
    """The provider's own ceremony of the current practice; 404 for anyone else's and for one
    opened in another practice (ASVS-06, ASVS-11)."""
    try:
        return binding.ceremony_of(provider, _practice(request), ceremony_id)
    except SigningCeremony.DoesNotExist:
        raise Http404("No such signing") from None


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
    return reverse("eprescribe:prescriptions")


def ended_message(ceremony: SigningCeremony, prescriptions: list[Prescription]) -> str:
    """Why the ceremony ended, naming the prescriptions that changed (DEA-19)."""
    by_id = {rx.pk: rx for rx in prescriptions}
    named = ", ".join(
        f"prescription {pk} ({by_id[pk].medication})" if pk in by_id else f"prescription {pk}"
        for pk in ceremony.changed_prescription_ids
    )
    named = named[:1].upper() + named[1:]
    if ceremony.end_reason == CeremonyEnd.PRESCRIPTION_CANCELLED:
        what = f"{named} was cancelled after you reviewed it"
    elif ceremony.end_reason == CeremonyEnd.SIGNER_CHANGED:
        what = "Your name, address or DEA registration changed after you reviewed them"
    else:
        what = f"{named or 'A prescription'} changed after you reviewed it"
    return f"{what}, so this signing has ended and nothing was signed. Review again to see what would be signed now."


# --- start -------------------------------------------------------------------
@login_required
@practice_required
@require_POST
def ceremony_start(request: HttpRequest) -> HttpResponse:
    """'Sign selected' on the prescriptions list (or 'Review again'): check the selection,
    bind a new ceremony to it (DEA-19) and open its review."""
    provider = _provider(request)
    practice = _practice(request)
    try:
        ids = selection.parse_ids(request.POST.getlist("prescription"))
        prescriptions = selection.load_selection(provider, practice, ids)
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
    ceremony = binding.open_ceremony(provider, practice, prescriptions, request=request)
    return redirect("eprescribe:ceremony", ceremony_id=ceremony.pk)


# --- the page ------------------------------------------------------------------
def _current(request: HttpRequest, ceremony: SigningCeremony) -> list[Prescription]:
    """The ceremony's prescriptions now; an open ceremony whose review no longer matches
    them is ended here (a change made outside eprescribe.services, e.g. in the admin)."""
    prescriptions = binding.current_prescriptions(ceremony)
    if ceremony.is_open:
        binding.end_if_changed(ceremony, prescriptions, request=request)
    return prescriptions


def _render_page(
    request: HttpRequest,
    provider: Provider,
    ceremony_id: uuid.UUID,
    *,
    error: str = "",
    chosen_device: int | None = None,
    status: int = 200,
) -> HttpResponse:
    ceremony = _ceremony(request, provider, ceremony_id)
    challenge = _latest_challenge(provider, ceremony_id)
    prescriptions = _current(request, ceremony)
    signed = ceremony.state == CeremonyState.SIGNED or (
        challenge is not None and challenge.status == ChallengeStatus.APPROVED
    )
    changed = ceremony.state == CeremonyState.ENDED
    block_reason = ""
    if not signed and not changed:
        try:
            selection.check_selection(provider, ceremony.practice, prescriptions)
        except selection.SelectionError as exc:
            block_reason = str(exc)
    mirror = MirrorReadiness.SYNCED
    if not (signed or changed or block_reason):
        mirror = ensure_mirror(provider, request)
    waiting = (
        not changed
        and challenge is not None
        and challenge.status == ChallengeStatus.PENDING
        and challenge.method == ChallengeMethod.PUSH
    )
    ended = not changed and challenge is not None and challenge.status == ChallengeStatus.FAILED
    outcome_message = ""
    if challenge is not None and challenge.status in (
        ChallengeStatus.DENIED,
        ChallengeStatus.EXPIRED,
        ChallengeStatus.FAILED,
        ChallengeStatus.CANCELLED,
    ):
        outcome_message = challenges.status_message(challenge)
    show_review = bool(prescriptions) and not changed
    context = {
        "ceremony_id": ceremony_id,
        # After a change the review would show new content: it is not shown as if reviewed.
        "review": selection.build_review(provider, ceremony.practice, prescriptions) if show_review else None,
        "statement": DEA_STATEMENT,
        "challenge": challenge,
        "signed": signed,
        "waiting": waiting,
        "ended": ended,
        "changed": changed,
        "changed_message": ended_message(ceremony, prescriptions) if changed else "",
        "review_again_ids": binding.prescription_ids(ceremony) if changed else [],
        "block_reason": block_reason,
        "checking_devices": CHECKING_DEVICES_MESSAGE if mirror == MirrorReadiness.UNREACHABLE else "",
        "error": error,
        "outcome_message": outcome_message,
        "several_generators_note": SEVERAL_GENERATORS_NOTE,
        **_device_choices(provider, chosen_device),
        "seconds_left": challenges.seconds_left(challenge) if challenge else 0,
        "prescriptions_url": _prescriptions_url(),
    }
    return render(request, "eprescribe/ceremony.html", context, status=status)


def _device_choices(provider: Provider, chosen_device: int | None) -> dict[str, Any]:
    """The code generators and push devices offered, which is preselected in each form, and
    which form comes first (the primary device's)."""
    devices = devices_for(provider)
    primary = primary_device(provider)
    totp_devices = [d for d in devices if d.kind == DeviceKind.TOTP]
    push_devices = [d for d in devices if d.kind == DeviceKind.PUSH]
    if chosen_device is None:
        chosen_device = primary.pk if primary else (devices[0].pk if devices else None)
    return {
        "totp_devices": totp_devices,
        "push_devices": push_devices,
        "chosen_totp": next(
            (d.pk for d in totp_devices if d.pk == chosen_device), totp_devices[0].pk if totp_devices else None
        ),
        "chosen_push": next(
            (d.pk for d in push_devices if d.pk == chosen_device), push_devices[0].pk if push_devices else None
        ),
        "push_first": bool(primary and primary.kind == DeviceKind.PUSH),
    }


@login_required
@practice_required
@require_GET
def ceremony_page(request: HttpRequest, ceremony_id: uuid.UUID) -> HttpResponse:
    return _render_page(request, _provider(request), ceremony_id)


def _ready_to_sign(
    request: HttpRequest, provider: Provider, ceremony_id: uuid.UUID
) -> tuple[list[Prescription], str | None]:
    """The ceremony's prescriptions if signing may start now, else the reason it may not."""
    return ready_to_sign(request, provider, _ceremony(request, provider, ceremony_id))


def ready_to_sign(
    request: HttpRequest, provider: Provider, ceremony: SigningCeremony
) -> tuple[list[Prescription], str | None]:
    """`_ready_to_sign` for a ceremony already looked up in its practice (the page's and the
    API's one rule: the API finds the ceremony in `api_practice`)."""
    prescriptions = _current(request, ceremony)
    if not ceremony.is_open:
        if ceremony.state == CeremonyState.ENDED:
            return [], ended_message(ceremony, prescriptions)
        return [], "This signing is finished."
    try:
        selection.check_selection(provider, ceremony.practice, prescriptions)
    except selection.SelectionError as exc:
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


def _challenge_context(prescriptions: list[Prescription], ceremony_id: uuid.UUID) -> dict[str, Any]:
    return {"prescription_ids": [p.pk for p in prescriptions], "ceremony": str(ceremony_id)}


@login_required
@practice_required
@require_POST
def ceremony_code(request: HttpRequest, ceremony_id: uuid.UUID) -> HttpResponse:
    """'Enter the 6-digit code': check it with ID.me; success signs what was reviewed (DEA-11, DEA-19)."""
    provider = _provider(request)
    _ceremony(request, provider, ceremony_id)  # another's, or another practice's: 404 first
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
            context=_challenge_context(prescriptions, ceremony_id),
            request=request,
        )
    except challenges.ChallengeError as exc:
        return _render_page(
            request, provider, ceremony_id, error=str(exc), chosen_device=device.pk, status=http_status(exc.code)
        )
    outcome = challenges.submit_code(challenge, request.POST.get("code", ""), request=request)
    if outcome.approved:
        return redirect("eprescribe:ceremony", ceremony_id=ceremony_id)
    if outcome.refusal_code in CeremonyEnd.values:
        # The page names what changed and offers to review again.
        return _render_page(request, provider, ceremony_id, status=409)
    return _render_page(
        request,
        provider,
        ceremony_id,
        error=outcome.message,
        chosen_device=device.pk,
        status=http_status(outcome.result),
    )


@login_required
@practice_required
@require_POST
def ceremony_push(request: HttpRequest, ceremony_id: uuid.UUID) -> HttpResponse:
    """Send (or resend) a push naming what is signed to the chosen device; the page then waits."""
    provider = _provider(request)
    _ceremony(request, provider, ceremony_id)  # another's, or another practice's: 404 first
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
            context=_challenge_context(prescriptions, ceremony_id),
            request=request,
        )
    except challenges.ChallengeError as exc:
        return _render_page(
            request, provider, ceremony_id, error=str(exc), chosen_device=device.pk, status=http_status(exc.code)
        )
    return redirect("eprescribe:ceremony", ceremony_id=ceremony_id)


@login_required
@practice_required
@require_POST
def ceremony_cancel(request: HttpRequest, ceremony_id: uuid.UUID) -> HttpResponse:
    provider = _provider(request)
    _ceremony(request, provider, ceremony_id)
    challenge = _latest_challenge(provider, ceremony_id)
    if challenge is not None and challenge.is_pending:
        challenges.cancel_challenge(challenge, request=request)
    return redirect("eprescribe:ceremony", ceremony_id=ceremony_id)


@login_required
@practice_required
@require_GET
def ceremony_status(request: HttpRequest, ceremony_id: uuid.UUID) -> JsonResponse:
    """What the waiting page needs, from the EHR's own records (the browser never asks ID.me).

    `ceremony` is open, signed or ended; an ended ceremony (a prescription changed after the
    review, DEA-19) reports status "ended", its reason and the prescriptions that changed.
    """
    provider = _provider(request)
    try:
        ceremony = binding.ceremony_of(provider, getattr(request, "practice", None), ceremony_id)
    except SigningCeremony.DoesNotExist:
        return JsonResponse({"error": "not_found", "error_description": "No such signing."}, status=404)
    prescriptions = _current(request, ceremony)
    challenge = _latest_challenge(provider, ceremony_id)
    if ceremony.state == CeremonyState.ENDED:
        return JsonResponse(
            {
                "status": "ended",
                "ceremony": ceremony.state,
                "reason": ceremony.end_reason,
                "changed_prescriptions": ceremony.changed_prescription_ids,
                "message": ended_message(ceremony, prescriptions),
                "seconds_left": 0,
                "match_number": "",
            }
        )
    if challenge is None:
        return JsonResponse(
            {"status": "none", "ceremony": ceremony.state, "message": "", "seconds_left": 0, "match_number": ""}
        )
    if challenge.is_pending and challenge.method == ChallengeMethod.PUSH:
        ensure_push_poller()
    return JsonResponse(
        {
            "status": challenge.status,
            "ceremony": ceremony.state,
            "method": challenge.method,
            "message": "" if challenge.is_pending else challenges.status_message(challenge),
            "seconds_left": challenges.seconds_left(challenge),
            "match_number": challenge.match_number,
        }
    )
