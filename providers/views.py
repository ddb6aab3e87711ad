"""Account Settings (Account > Provider Settings): one URL per tab."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from providers import security, services
from providers.erx_info import erx_info_tab
from providers.forms import KEEP_API_TOKENS_LABEL, LimitedPasswordChangeForm, ProfileForm
from providers.passwords import PasswordCheck, message_for
from providers.reauth import confirm_password, pop_pending_post
from providers.tabs import TABS, TABS_BY_SLUG


def tab_url(slug: str) -> str:
    return reverse("provider-settings", kwargs={"tab": slug})


def render_tab(request: HttpRequest, slug: str, template: str, context: dict[str, object]) -> HttpResponse:
    """Render a tab inside the Account Settings frame; other apps' tabs use this too."""
    return render(request, template, {"tabs": TABS, "active_tab": TABS_BY_SLUG[slug], **context})


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect(tab_url("profile"))


@login_required
def provider_settings(request: HttpRequest, tab: str) -> HttpResponse:
    if tab not in TABS_BY_SLUG:
        raise Http404("No such tab")
    if tab == "profile":
        return profile_tab(request)
    if tab == "security":
        return security_tab(request)
    if tab == "erx-info":
        return erx_info_tab(request)
    return render_tab(request, tab, "providers/tab_other_module.html", {})


def profile_tab(request: HttpRequest) -> HttpResponse:
    provider = services.current_provider(request)
    form = ProfileForm(request.POST or None, instance=provider, initial={"email": provider.user.email})
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.Meta.fields}
        # The form filled the instance while validating; reload so the service sees the stored state.
        provider.refresh_from_db()
        services.update_profile(request, provider, form.cleaned_data["email"], changes)
        messages.success(request, "Your profile has been saved.")
        return redirect(tab_url("profile"))
    response = render_tab(request, "profile", "providers/tab_profile.html", {"form": form, "provider": provider})
    if request.method == "POST":
        response.status_code = 400
    return response


def security_tab(request: HttpRequest) -> HttpResponse:
    user = services.signed_in_user(request)
    password_form = LimitedPasswordChangeForm(request, user)
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "change_password":
            password_form = LimitedPasswordChangeForm(request, user, request.POST)
            if password_form.is_valid():
                services.change_password(
                    request,
                    user,
                    password_form.cleaned_data["new_password1"],
                    keep_api_tokens=password_form.cleaned_data["keep_api_tokens"],
                )
                messages.success(request, "Your password has been changed.")
                return redirect(tab_url("security"))
            status = 400
        elif action == "sign_out_other_sessions":
            services.sign_out_other_sessions(request, user, keep_api_tokens=request.POST.get("keep_api_tokens") == "on")
            messages.success(request, "All your other sessions have been signed out.")
            return redirect(tab_url("security"))
        else:
            messages.error(request, "Unknown action.")
            status = 400
    return render_security_tab(request, password_form, status)


def render_security_tab(
    request: HttpRequest, password_form: LimitedPasswordChangeForm | None = None, status: int = 200
) -> HttpResponse:
    """The Security tab with its registered sections (providers.security); another app's view
    that handled a section's form renders the tab through this too."""
    if password_form is None:
        password_form = LimitedPasswordChangeForm(request, services.signed_in_user(request))
    # Each section renders its own template (render_to_string: already safe HTML).
    sections = [section.render(request) for section in security.registered_sections()]
    response = render_tab(
        request,
        "security",
        "providers/tab_security.html",
        {"password_form": password_form, "sections": sections, "keep_label": KEEP_API_TOKENS_LABEL},
    )
    response.status_code = status
    return response


@login_required
@require_http_methods(["GET", "POST"])
def reauthenticate(request: HttpRequest) -> HttpResponse:
    """Password prompt before a sensitive change (ASVS-05); continues where it was asked."""
    next_url = request.POST.get("next") or request.GET.get("next") or reverse("home")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = reverse("home")
    error = ""
    if request.method == "POST":
        check = confirm_password(request, str(request.POST.get("password", "")))
        if check is PasswordCheck.ACCEPTED:
            pending = pop_pending_post(request, next_url)
            if pending is not None:
                return render(request, "providers/reauth_continue.html", {"action": next_url, "data": pending})
            return HttpResponseRedirect(next_url)
        error = message_for(check)
    response = render(request, "providers/reauthenticate.html", {"next": next_url, "error": error})
    if error:
        response.status_code = 400
    return response
