"""Operator sign-in and sign-out pages, and the guard of the operator's pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from idme_sandbox.accounts import web
from idme_sandbox.operator import services
from idme_sandbox.session import end_operator_session, read_operator, write_operator_session

View = Callable[..., HttpResponse]


class OperatorSignInForm(forms.Form):
    username = forms.CharField(label="Operator username", max_length=150)
    password = forms.CharField(
        label="Password", max_length=256, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "off"})
    )


def operator_required(view: View) -> View:
    """The page shows every simulated person's data: only a signed-in sandbox operator sees it."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if read_operator(request) is None:
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('idme_sandbox:operator_sign_in')}?{query}")
        return view(request, *args, **kwargs)

    return wrapper


@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    next_url = web.safe_next(
        request, request.POST.get("next") or request.GET.get("next"), default=reverse("idme_sandbox:outbox")
    )
    form = OperatorSignInForm(request.POST or None)
    error = None
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                operator = services.check_operator_sign_in(
                    form.cleaned_data["username"], form.cleaned_data["password"], str(request.META.get("REMOTE_ADDR"))
                )
            except services.OperatorSignInLocked:
                error = "Too many failed sign-in attempts. Try again in 15 minutes."
                status = 429
            else:
                if operator is not None:
                    response = HttpResponseRedirect(next_url)
                    write_operator_session(response, operator, replacing=request)
                    return response
                error = "The username or password you entered is incorrect."
    context = {"form": form, "next": next_url, "error": error, "operator": read_operator(request)}
    return render(request, "idme_sandbox/operator_sign_in.html", context, status=status)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    response = HttpResponseRedirect(reverse("idme_sandbox:operator_sign_in"))
    end_operator_session(request, response)
    return response
