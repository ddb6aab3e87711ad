"""Sign up, sign in with multi-factor authentication (the seed's step 3), sign out, identity
verification (simulated) and the message outbox."""

from __future__ import annotations

import time
from typing import Any

from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from idme_sandbox import authenticators
from idme_sandbox.accounts import forms, services, web
from idme_sandbox.models import Account, Device, DeviceKind, OutboxMessage, PushStatus, PushTransaction
from idme_sandbox.operator.views import operator_required
from idme_sandbox.session import SandboxSession, end_session, read_operator, read_session, write_session

SIGN_IN_PUSH_COOKIE = "idme_sign_in_push"
_PUSH_SALT = "idme_sandbox.sign_in_push"

METHODS = [
    (
        DeviceKind.SMS,
        "Text Message or Phone Call",
        "Get a 6-digit code by text message or phone call.",
    ),
    (
        DeviceKind.PUSH,
        "Push Notification",
        "Approve sign-ins via push notifications sent to the ID.me Authenticator mobile app.",
    ),
    (
        DeviceKind.TOTP,
        "Code Generator Application",
        "Generate verification codes via code generator apps like ID.me Authenticator.",
    ),
]


def render_page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    web.pop_notice(request, response)
    return response


def client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", "unknown"))


def _finish_sign_in(request: HttpRequest, session: SandboxSession, next_url: str) -> HttpResponse:
    response = HttpResponseRedirect(next_url)
    write_session(response, session.account, session.password_at, time.time(), replacing=request)
    response.delete_cookie(SIGN_IN_PUSH_COOKIE, path="/")
    services.CODE_ENTRY_LIMITER.reset(str(session.account.pk))
    return response


def _pending_session(request: HttpRequest) -> SandboxSession | None:
    """A password-only session waiting for its second factor."""
    session = read_session(request)
    return session if session is not None and not session.fully_signed_in else None


# --- sign up / sign in / sign out ---------------------------------------------------
@never_cache
@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    form = forms.SignUpForm(request.POST or None)
    next_url = web.safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "POST" and form.is_valid():
        account = services.create_account(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            fname=form.cleaned_data["fname"],
            lname=form.cleaned_data["lname"],
        )
        now = time.time()
        response = web.redirect_with_notice(
            next_url,
            "Your ID.me account was created. Secure it: set up a multi-factor method in Sign In & Security.",
            "warning",
        )
        write_session(response, account, now, now, replacing=request)  # no method yet: nothing to ask for
        return response
    return render_page(request, "idme_sandbox/sign_up.html", {"form": form, "next": next_url})


@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    next_url = web.safe_next(request, request.POST.get("next") or request.GET.get("next"))
    reauth = (request.POST.get("reauth") or request.GET.get("reauth")) == "1"
    form = forms.SignInForm(request.POST or None)
    error = None
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            account = services.check_password_sign_in(
                form.cleaned_data["email"], form.cleaned_data["password"], client_ip(request)
            )
        except services.SignInLocked:
            account = None
            error = "Too many failed sign-in attempts. Try again in 15 minutes."
            status = 429
        else:
            if account is None:
                error = "The email or password you entered is incorrect."
        if account is not None:
            now = time.time()
            if services.mfa_devices(account):
                to_mfa = HttpResponseRedirect(web.with_next(reverse("idme_sandbox:mfa_choose"), next_url))
                write_session(to_mfa, account, now, None, replacing=request)
                return to_mfa
            response = web.redirect_with_notice(
                next_url,
                "Your account has no multi-factor method. Set one up in Sign In & Security to secure it.",
                "warning",
            )
            write_session(response, account, now, now, replacing=request)
            return response
    elif request.method == "POST":
        status = 400
    context = {"form": form, "next": next_url, "reauth": reauth, "error": error}
    return render_page(request, "idme_sandbox/sign_in.html", context, status=status)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    response = web.redirect_with_notice(reverse("idme_sandbox:sign_in"), "You have signed out of ID.me.")
    end_session(request, response)
    response.delete_cookie(web.RETURN_COOKIE, path="/")
    response.delete_cookie(SIGN_IN_PUSH_COOKIE, path="/")
    return response


def account_home(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(reverse("idme_sandbox:account", kwargs={"tab": "overview"}))


# --- multi-factor step -------------------------------------------------------------------
def _method_groups(account: Account) -> list[dict[str, Any]]:
    devices = services.mfa_devices(account)
    groups = []
    for kind, title, description in METHODS:
        of_kind = [d for d in devices if d.kind == kind]
        if of_kind:
            groups.append({"kind": kind, "title": title, "description": description, "devices": of_kind})
    return groups


def _own_device(account: Account, device_id: str) -> Device:
    device = Device.objects.filter(account=account, device_id=device_id).first()
    if device is None or (device.kind == DeviceKind.PUSH and not device.public_key):
        raise Http404("No such method.")
    return device


@never_cache
@require_GET
def mfa_choose(request: HttpRequest) -> HttpResponse:
    session = _pending_session(request)
    next_url = web.safe_next(request, request.GET.get("next"))
    if session is None:
        return HttpResponseRedirect(web.with_next(reverse("idme_sandbox:sign_in"), next_url))
    context = {"groups": _method_groups(session.account), "next": next_url, "account": None}
    return render_page(request, "idme_sandbox/mfa_choose.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def mfa_method(request: HttpRequest, device_id: str) -> HttpResponse:
    """After "Select": a code entry (code generator), text/call choice (phone) or a push."""
    session = _pending_session(request)
    next_url = web.safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if session is None:
        return HttpResponseRedirect(web.with_next(reverse("idme_sandbox:sign_in"), next_url))
    account = session.account
    device = _own_device(account, device_id)
    code_url = web.with_next(reverse("idme_sandbox:mfa_code", kwargs={"device_id": device.device_id}), next_url)
    if device.kind == DeviceKind.TOTP:
        return HttpResponseRedirect(code_url)
    if device.kind == DeviceKind.PUSH:
        if request.method != "POST":
            return HttpResponseRedirect(web.with_next(reverse("idme_sandbox:mfa_choose"), next_url))
        try:
            push = authenticators.create_push(
                account,
                device,
                "Sign in to ID.me",
                f"A sign-in to the ID.me account {account.email} is waiting for your approval.",
            )
        except authenticators.PushRateLimited as exc:
            limited = {
                "groups": _method_groups(account),
                "next": next_url,
                "account": None,
                "error": f"Too many push requests. Try again in {exc.retry_after} seconds or choose another method.",
            }
            return render_page(request, "idme_sandbox/mfa_choose.html", limited, status=429)
        response = HttpResponseRedirect(
            web.with_next(reverse("idme_sandbox:mfa_push", kwargs={"txid": push.txid}), next_url)
        )
        response.set_cookie(
            SIGN_IN_PUSH_COOKIE,
            signing.dumps({"a": account.pk, "t": push.txid}, salt=_PUSH_SALT),
            max_age=authenticators.PUSH_MAX_EXPIRES_IN,
            httponly=True,
            samesite="Lax",
            path="/",
        )
        return response
    # Text message or phone call: "Receive authentication code via phone".
    form = forms.PhoneChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.send_phone_code(account, device.phone, form.cleaned_data["channel"], f"sign-in:{device.pk}")
        return HttpResponseRedirect(code_url)
    context: dict[str, Any] = {
        "form": form,
        "device": device,
        "masked": services.mask_phone(device.phone),
        "next": next_url,
    }
    return render_page(request, "idme_sandbox/mfa_phone.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def mfa_code(request: HttpRequest, device_id: str) -> HttpResponse:
    session = _pending_session(request)
    next_url = web.safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if session is None:
        return HttpResponseRedirect(web.with_next(reverse("idme_sandbox:sign_in"), next_url))
    account = session.account
    device = _own_device(account, device_id)
    if device.kind == DeviceKind.PUSH:
        raise Http404("Push devices have no code.")
    form = forms.CodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        subject = str(account.pk)
        if services.CODE_ENTRY_LIMITER.is_locked(subject):
            form.add_error(None, "Too many wrong codes. Try again in 15 minutes.")
            status = 429
        elif form.is_valid():
            code = form.cleaned_data["code"]
            if device.kind == DeviceKind.TOTP:
                decision = authenticators.verify_totp(device, code)
                if decision.allowed:
                    return _finish_sign_in(request, session, next_url)
                if decision.decision == "device_locked":
                    form.add_error("code", "This device is locked after too many wrong codes. Try another method.")
                elif decision.decision == "code_replayed":
                    form.add_error("code", "That code was already used. Wait for the next code.")
                else:
                    form.add_error("code", "That code is not correct. Check your code generator app and try again.")
            elif services.check_phone_code(account, code, f"sign-in:{device.pk}"):
                Device.objects.filter(pk=device.pk).update(last_used_at=timezone.now())
                return _finish_sign_in(request, session, next_url)
            else:
                form.add_error("code", "That code is not correct or has expired. Send a new code and try again.")
            services.CODE_ENTRY_LIMITER.failure(subject)
    context = {
        "form": form,
        "device": device,
        "masked": services.mask_phone(device.phone) if device.kind == DeviceKind.SMS else None,
        "next": next_url,
    }
    return render_page(request, "idme_sandbox/mfa_code.html", context, status=status)


def _sign_in_push(request: HttpRequest, session: SandboxSession, txid: str) -> PushTransaction:
    """The sign-in push this browser started (bound by its own cookie), or 404."""
    raw = request.COOKIES.get(SIGN_IN_PUSH_COOKIE)
    try:
        data = signing.loads(raw or "", salt=_PUSH_SALT, max_age=authenticators.PUSH_MAX_EXPIRES_IN)
    except (signing.BadSignature, ValueError, TypeError):
        raise Http404("No such sign-in request.") from None
    if not isinstance(data, dict) or data.get("t") != txid or data.get("a") != session.account.pk:
        raise Http404("No such sign-in request.")
    push = PushTransaction.objects.filter(txid=txid, account=session.account, client__isnull=True).first()
    if push is None:
        raise Http404("No such sign-in request.")
    return push


@never_cache
@require_http_methods(["GET", "POST"])
def mfa_push(request: HttpRequest, txid: str) -> HttpResponse:
    """The push wait page: shows the number to match; JS polls, Continue checks without JS."""
    session = _pending_session(request)
    next_url = web.safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if session is None:
        return HttpResponseRedirect(web.with_next(reverse("idme_sandbox:sign_in"), next_url))
    push = _sign_in_push(request, session, txid)
    status = push.current_status()
    if request.method == "POST":
        if status == PushStatus.APPROVED:
            return _finish_sign_in(request, session, next_url)
        if status == PushStatus.PENDING and request.POST.get("action") == "cancel":
            authenticators.cancel_push(push)
            return HttpResponseRedirect(web.with_next(reverse("idme_sandbox:mfa_choose"), next_url))
    context = {"push": push, "status": status, "next": next_url}
    return render_page(request, "idme_sandbox/mfa_push.html", context)


@never_cache
@require_GET
def mfa_push_status(request: HttpRequest, txid: str) -> HttpResponse:
    session = _pending_session(request)
    if session is None:
        return JsonResponse({"error": "not_signed_in"}, status=401)
    push = _sign_in_push(request, session, txid)
    return JsonResponse({"status": push.current_status()})


# --- identity verification (simulated) ---------------------------------------------------
@never_cache
@require_http_methods(["GET", "POST"])
@web.signed_in
def verify_identity(request: HttpRequest, account: Account, sandbox_session: SandboxSession) -> HttpResponse:
    initial = {"fname": account.fname, "lname": account.lname}
    form = forms.IdentityForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.verify_identity(account, form.details())
        return web.redirect_with_notice(
            reverse("idme_sandbox:account", kwargs={"tab": "overview"}), "Your identity has been verified."
        )
    context = web.page_context(request, account, sandbox_session) | {"form": form}
    return render_page(
        request, "idme_sandbox/verify_identity.html", context, status=400 if request.method == "POST" else 200
    )


# --- message outbox ----------------------------------------------------------------------
@never_cache
@require_GET
@operator_required
def outbox(request: HttpRequest) -> HttpResponse:
    """The simulated phone/inbox: messages sent to one phone number or email address.
    Anyone's messages: the sandbox operator's page (idme_sandbox.operator)."""
    to = request.GET.get("to", "").strip()[:254]
    outbox_messages: list[OutboxMessage] = []
    if to:
        phone = services.normalize_phone(to)
        recipient = phone or services.normalize_email(to)
        outbox_messages = list(OutboxMessage.objects.filter(phone=recipient).order_by("-created_at", "-id")[:20])
    session = read_session(request)
    account = session.account if session and session.fully_signed_in else None
    context = {"to": to, "outbox_messages": outbox_messages, "account": account, "operator": read_operator(request)}
    return render_page(request, "idme_sandbox/outbox.html", context)
