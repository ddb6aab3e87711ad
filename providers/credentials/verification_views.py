"""The Credential Verification page (thin: providers.credentials.verification decides).

EPCS access managers of the current practice see the DEA registrations and state licenses of
the practice's people that are not verified, verify a registration against the DEA registry,
and record a state-board check of a license. Another person's credential ids answer 404
(ASVS-11); anyone who is not an access manager of the practice is refused (403).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

import audit
from audit.models import Outcome
from providers import services
from providers.credentials import verification
from providers.credentials.forms import LicenseVerificationForm
from providers.models import DeaRegistration, Practice, StateLicense
from providers.practices import practice_required
from providers.reauth import reauthentication_required
from providers.roles import is_access_manager

PAGE_TEMPLATE = "providers/credentials/verification.html"
NOT_MANAGER = "Only an EPCS access manager can verify prescriber credentials."


def page_url() -> str:
    return reverse("credential-verification")


def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(
        request, "providers/refused.html", {"message": message, "page_heading": "EPCS Permissions"}, status=403
    )


def _page(
    request: HttpRequest, *, license_forms: dict[int, LicenseVerificationForm] | None = None, status: int = 200
) -> HttpResponse:
    pending = verification.unverified_credentials(request.practice)  # type: ignore[attr-defined]
    forms = license_forms or {}
    licenses = [
        {
            "license": license_,
            "form": forms.get(license_.pk) or LicenseVerificationForm(prefix=f"license-{license_.pk}"),
        }
        for license_ in pending.licenses
    ]
    context = {"registrations": pending.registrations, "licenses": licenses}
    return render(request, PAGE_TEMPLATE, context, status=status)


def _manager_or_refusal(request: HttpRequest) -> HttpResponse | None:
    user = services.signed_in_user(request)
    if is_access_manager(user, request.practice):  # type: ignore[attr-defined]
        return None
    audit.record(
        "credentials.verification_page_refused",
        actor=user,
        outcome=Outcome.DENIED,
        request=request,
        details={"reason": NOT_MANAGER},
    )
    return _forbidden(request, NOT_MANAGER)


def _practice(request: HttpRequest) -> Practice:
    return request.practice  # type: ignore[attr-defined]


@login_required
@practice_required
@require_GET
def verification_page(request: HttpRequest) -> HttpResponse:
    return _manager_or_refusal(request) or _page(request)


@login_required
@practice_required
@require_POST
@reauthentication_required
def verify_registration(request: HttpRequest, pk: int) -> HttpResponse:
    refused = _manager_or_refusal(request)
    if refused:
        return refused
    practice = _practice(request)
    registration = get_object_or_404(
        DeaRegistration.objects.select_related("provider__user").filter(provider__in=verification.people_of(practice)),
        pk=pk,
    )
    try:
        verification.verify_dea_registration(
            actor=services.signed_in_user(request), registration=registration, practice=practice, request=request
        )
    except verification.VerificationRefused as refusal:
        if refusal.code == verification.RefusalCode.OWN_CREDENTIAL:
            return _forbidden(request, refusal.message)
        messages.error(request, refusal.message)
    else:
        messages.success(
            request,
            f"DEA registration {registration.number} of {registration.provider} matches the DEA registry "
            "and is verified.",
        )
    return redirect(page_url())


@login_required
@practice_required
@require_POST
@reauthentication_required
def verify_license(request: HttpRequest, pk: int) -> HttpResponse:
    refused = _manager_or_refusal(request)
    if refused:
        return refused
    practice = _practice(request)
    license_ = get_object_or_404(
        StateLicense.objects.select_related("provider__user").filter(provider__in=verification.people_of(practice)),
        pk=pk,
    )
    form = LicenseVerificationForm(request.POST, prefix=f"license-{license_.pk}")
    if not form.is_valid():
        return _page(request, license_forms={license_.pk: form}, status=400)
    try:
        verification.verify_state_license(
            actor=services.signed_in_user(request),
            license_=license_,
            source=form.cleaned_data["source"],
            reference=form.cleaned_data["reference"],
            practice=practice,
            request=request,
        )
    except verification.VerificationRefused as refusal:
        if refusal.code == verification.RefusalCode.OWN_CREDENTIAL:
            return _forbidden(request, refusal.message)
        form.add_error(None, refusal.message)
        return _page(request, license_forms={license_.pk: form}, status=400)
    messages.success(request, f"State license {license_.state} {license_.number} of {license_.provider} is verified.")
    return redirect(page_url())
