"""Views for the prescriber credentials on eRx Info (thin: providers.credentials.services decides)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from providers import services
from providers.credentials import services as credentials
from providers.credentials.forms import DeaRegistrationForm, PrescriberDetailsForm, StateLicenseForm
from providers.models import DeaRegistration, StateLicense

FORM_TEMPLATE = "providers/erx/credentials_form.html"


def erx_info_url() -> str:
    return reverse("provider-settings", kwargs={"tab": "erx-info"}) + "#credentials-heading"


def _render_form(request: HttpRequest, form: Any, title: str, status: int = 200) -> HttpResponse:
    from providers.views import render_tab

    response = render_tab(
        request, "erx-info", FORM_TEMPLATE, {"form": form, "title": title, "cancel_url": erx_info_url()}
    )
    response.status_code = status
    return response


def _form_page(request: HttpRequest, form: Any, title: str, save: Callable[[dict[str, Any]], str]) -> HttpResponse:
    """GET shows the form; a valid POST calls `save` (which returns the success message) and
    goes back to eRx Info; anything refused is shown on the form with a 400, nothing saved."""
    if request.method != "POST":
        return _render_form(request, form, title)
    if form.is_valid():
        try:
            message = save(form.cleaned_data)
        except ValidationError as error:
            for text in error.messages:
                form.add_error(None, text)
        else:
            messages.success(request, message)
            return redirect(erx_info_url())
    return _render_form(request, form, title, status=400)


# --- DEA registrations -----------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def dea_add(request: HttpRequest) -> HttpResponse:
    provider = services.current_provider(request)
    form = DeaRegistrationForm(request.POST or None, provider=provider)

    def save(data: dict[str, Any]) -> str:
        registration = credentials.add_dea_registration(request, provider, data)
        return f"DEA registration {registration.number} has been added."

    return _form_page(request, form, "Add DEA registration", save)


@login_required
@require_http_methods(["GET", "POST"])
def dea_edit(request: HttpRequest, pk: int) -> HttpResponse:
    provider = services.current_provider(request)
    registration = get_object_or_404(DeaRegistration, pk=pk, provider=provider)
    title = f"Edit DEA registration {registration.number}"
    form = DeaRegistrationForm(request.POST or None, provider=provider, instance=registration)

    def save(data: dict[str, Any]) -> str:
        credentials.update_dea_registration(request, registration, data)
        return "The DEA registration has been saved."

    return _form_page(request, form, title, save)


@login_required
@require_POST
def dea_remove(request: HttpRequest, pk: int) -> HttpResponse:
    registration = get_object_or_404(DeaRegistration, pk=pk, provider=services.current_provider(request))
    try:
        credentials.remove_dea_registration(request, registration)
    except credentials.CredentialError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"DEA registration {registration.number} has been removed.")
    return redirect(erx_info_url())


@login_required
@require_POST
def dea_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    registration = get_object_or_404(DeaRegistration, pk=pk, provider=services.current_provider(request))
    credentials.revoke_dea_registration(request, registration)
    messages.success(
        request, f"DEA registration {registration.number} is marked revoked. It can no longer be used to sign."
    )
    return redirect(erx_info_url())


# --- state licenses ---------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def license_add(request: HttpRequest) -> HttpResponse:
    provider = services.current_provider(request)
    form = StateLicenseForm(request.POST or None)

    def save(data: dict[str, Any]) -> str:
        credentials.add_state_license(request, provider, data)
        return "The state license has been added."

    return _form_page(request, form, "Add state license", save)


@login_required
@require_http_methods(["GET", "POST"])
def license_edit(request: HttpRequest, pk: int) -> HttpResponse:
    provider = services.current_provider(request)
    license_ = get_object_or_404(StateLicense, pk=pk, provider=provider)
    initial = {"state": license_.state, "number": license_.number, "expires_on": license_.expires_on}
    form = StateLicenseForm(request.POST or None, initial=initial)
    title = f"Edit state license {license_.state} {license_.number}"

    def save(data: dict[str, Any]) -> str:
        credentials.update_state_license(request, license_, data)
        return "The state license has been saved."

    return _form_page(request, form, title, save)


@login_required
@require_POST
def license_remove(request: HttpRequest, pk: int) -> HttpResponse:
    license_ = get_object_or_404(StateLicense, pk=pk, provider=services.current_provider(request))
    credentials.remove_state_license(request, license_)
    messages.success(request, f"State license {license_.state} {license_.number} has been removed.")
    return redirect(erx_info_url())


# --- Medicaid id and prescribing name ---------------------------------------------
@login_required
@require_POST
def prescriber_details(request: HttpRequest) -> HttpResponse:
    provider = services.current_provider(request)
    form = PrescriberDetailsForm(request.POST)
    if not form.is_valid():
        return _render_form(request, form, "Prescriber details", status=400)
    changed = credentials.update_prescriber_details(
        request,
        provider,
        medicaid_id=form.cleaned_data["medicaid_id"],
        prescribing_name=form.cleaned_data["prescribing_name"],
    )
    messages.success(request, "Your prescriber details have been saved." if changed else "Nothing changed.")
    return redirect(erx_info_url())
