"""The Security tab's "API tokens" section (create, list, revoke) and the OAuth consent screen."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST
from oauth2_provider.models import get_application_model
from oauth2_provider.views import AuthorizationView

from api_access import services
from api_access.forms import CreateTokenForm
from api_access.models import ApplicationPractice, PersonalAccessToken
from providers.models import Membership
from providers.reauth import reauthentication_required
from providers.services import signed_in_user
from providers.views import render_security_tab, tab_url

# Set on the request by the create view, read by the section while it renders.
_FORM_ATTR = "_api_token_form"
_CREATED_ATTR = "_api_token_created"


def render_section(request: HttpRequest) -> str:
    """The "API tokens" section of the Security tab (registered in hooks.py)."""
    user = signed_in_user(request)
    form = getattr(request, _FORM_ATTR, None) or CreateTokenForm()
    created: services.CreatedToken | None = getattr(request, _CREATED_ATTR, None)
    return render_to_string(
        "api_access/security_section.html",
        {
            "tokens": services.tokens_of(user),
            "apps": services.connected_apps(user),
            "token_form": form,
            "created": created,
        },
        request=request,
    )


@login_required
@require_POST
@reauthentication_required
def create_token(request: HttpRequest) -> HttpResponse:
    """Create a token and show it once, on this response only (never stored, never redirected)."""
    form = CreateTokenForm(request.POST)
    if not form.is_valid():
        setattr(request, _FORM_ATTR, form)
        return render_security_tab(request, status=400)
    try:
        created = services.create_token(
            signed_in_user(request),
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            days=form.cleaned_data["days"],
            request=request,
        )
    except services.TokenRequestError as exc:
        form.add_error(None, str(exc))
        setattr(request, _FORM_ATTR, form)
        return render_security_tab(request, status=400)
    setattr(request, _CREATED_ATTR, created)
    return render_security_tab(request, status=201)


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = services.revoke_token(signed_in_user(request), token_id, request=request)
    except PersonalAccessToken.DoesNotExist as exc:
        raise Http404("No such token among yours.") from exc
    messages.success(request, f"The token “{token.name}” has been revoked; it no longer works.")
    return redirect(tab_url("security"))


@login_required
@require_POST
def disconnect_app(request: HttpRequest, application_id: int) -> HttpResponse:
    """End every token the person gave one app (the app must ask for consent again)."""
    if not services.disconnect_app(signed_in_user(request), application_id, request=request):
        raise Http404("No such connected app.")
    messages.success(request, "The app has been disconnected; it can no longer act for you.")
    return redirect(tab_url("security"))


class PracticeAuthorizationView(AuthorizationView):
    """DOT's authorization endpoint with our consent screen, for members of the app's practice
    only (an app of no practice, or of a practice the person is not in, is refused)."""

    template_name = "api_access/authorize.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            client_id = request.POST.get("client_id") or request.GET.get("client_id")
            application = get_application_model().objects.filter(client_id=client_id).first() if client_id else None
            if application is not None and not _member_of_app_practice(request.user, application):
                return render(request, "api_access/authorize_refused.html", {"application": application}, status=403)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["scope_items"] = list(
            zip(kwargs.get("scopes", []), kwargs.get("scopes_descriptions", []), strict=False)
        )
        return context


def _member_of_app_practice(user: Any, application: Any) -> bool:
    link = ApplicationPractice.objects.filter(application=application).first()
    return link is not None and Membership.objects.filter(user_id=user.pk, practice_id=link.practice_id).exists()
