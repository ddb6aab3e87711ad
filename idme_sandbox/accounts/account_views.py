"""Account pages: OVERVIEW, PROFILE, SIGN IN & SECURITY, MY WALLET, and the method set-up pages."""

from __future__ import annotations

import base64
import io
from typing import Any

import qrcode
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from qrcode.image.pil import PilImage

from idme_sandbox import authenticators
from idme_sandbox.accounts import forms, services, web
from idme_sandbox.accounts.views import render_page
from idme_sandbox.models import Account, Consent, Device, DeviceKind
from idme_sandbox.session import SandboxSession

TABS = [
    ("overview", "Overview"),
    ("profile", "Profile"),
    ("security", "Sign In & Security"),
    ("wallet", "My Wallet"),
]
PENDING_TOTP_COOKIE = "idme_pending_totp"

SECURITY_METHODS = [
    (
        DeviceKind.PUSH,
        "Push Notification",
        "Approve sign-ins via Push Notifications sent to the ID.me Authenticator mobile app.",
        "idme_sandbox:setup_push",
    ),
    (
        DeviceKind.TOTP,
        "Code Generator",
        "Generate verification codes via code generator apps like ID.me Authenticator to sign in.",
        "idme_sandbox:setup_code_generator",
    ),
    (
        DeviceKind.SMS,
        "Text Message or Phone Call",
        "Get a 6-digit code by text message or phone call.",
        "idme_sandbox:setup_phone",
    ),
]


def security_url() -> str:
    return reverse("idme_sandbox:account", kwargs={"tab": "security"})


def _context(request: HttpRequest, account: Account, session: SandboxSession, tab: str) -> dict[str, Any]:
    context = web.page_context(request, account, session)
    context.update({"tabs": TABS, "tab": tab})
    return context


@never_cache
@require_GET
@web.signed_in
def account_tab(request: HttpRequest, tab: str, account: Account, sandbox_session: SandboxSession) -> HttpResponse:
    if tab not in dict(TABS):
        raise Http404("No such tab.")
    context = _context(request, account, sandbox_session, tab)
    consents = list(Consent.objects.filter(account=account).select_related("client").order_by("granted_at"))
    context["consents"] = consents
    if tab == "security":
        partners = ", ".join(c.client.name for c in consents)
        devices = list(account.devices.all())
        context["methods"] = [
            {
                "kind": kind,
                "title": title,
                "description": description,
                "setup_url": reverse(url_name),
                "devices": [d for d in devices if d.kind == kind],
            }
            for kind, title, description, url_name in SECURITY_METHODS
        ]
        context["partners"] = partners
        context["only_one_method"] = len(devices) == 1
    response = render_page(request, f"idme_sandbox/account/{tab}.html", context)
    if tab == "security":
        web.remember_return_to(request, response)
    return response


def _qr_data_uri(text: str) -> str:
    image = qrcode.make(text, image_factory=PilImage, box_size=6, border=4)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@never_cache
@require_http_methods(["GET", "POST"])
@web.recent_sign_in
def setup_code_generator(request: HttpRequest, account: Account, sandbox_session: SandboxSession) -> HttpResponse:
    """Seed step 5: QR code + key for manual entry, then "Confirm your device"."""
    secret = services.open_pending_secret(account, request.COOKIES.get(PENDING_TOTP_COOKIE))
    new_secret = secret is None
    if secret is None:
        secret = authenticators.new_totp_secret()
    form = forms.ConfirmDeviceForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        subject = f"setup:{account.pk}"
        if new_secret:
            form.is_valid()
            form.add_error(None, "This set-up expired. Scan the new QR code and enter its code.")
        elif services.CODE_ENTRY_LIMITER.is_locked(subject):
            form.add_error(None, "Too many wrong codes. Try again in 15 minutes.")
            status = 429
        elif form.is_valid():
            device = services.add_code_generator(account, secret, form.cleaned_data["code"], form.cleaned_data["name"])
            if device is not None:
                services.CODE_ENTRY_LIMITER.reset(subject)
                response = web.redirect_with_notice(
                    security_url(), f"Your code generator \u201c{device}\u201d was added."
                )
                response.delete_cookie(PENDING_TOTP_COOKIE, path=reverse("idme_sandbox:setup_code_generator"))
                return response
            services.CODE_ENTRY_LIMITER.failure(subject)
            form.add_error("code", "That code is not correct. Check your code generator app and try again.")
    uri = authenticators.provisioning_uri(secret, account.email)
    context = _context(request, account, sandbox_session, "security")
    context.update(
        {"form": form, "qr": _qr_data_uri(uri), "key": authenticators.grouped_secret(secret), "otpauth_uri": uri}
    )
    response = render_page(request, "idme_sandbox/account/setup_code_generator.html", context, status=status)
    if new_secret:
        response.set_cookie(
            PENDING_TOTP_COOKIE,
            services.seal_pending_secret(account, secret),
            max_age=services.PENDING_TOTP_TTL_SECONDS,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
            path=reverse("idme_sandbox:setup_code_generator"),
        )
    return response


@never_cache
@require_GET
@web.recent_sign_in
def setup_push(request: HttpRequest, account: Account, sandbox_session: SandboxSession) -> HttpResponse:
    context = _context(request, account, sandbox_session, "security")
    context["pairing_code"] = services.new_pairing_code(account)
    context["phone_url"] = request.build_absolute_uri(reverse("idme_sandbox:phone"))
    context["base_url"] = request.build_absolute_uri(reverse("idme_sandbox:account_home")).rstrip("/")
    return render_page(request, "idme_sandbox/account/setup_push.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
@web.recent_sign_in
def setup_phone(request: HttpRequest, account: Account, sandbox_session: SandboxSession) -> HttpResponse:
    """Add a text message / phone call method: the number, then the code sent to it."""
    purpose = "add-phone"
    phone_form = forms.AddPhoneForm(request.POST if request.POST.get("step") == "send" else None)
    code_form = forms.CodeForm(request.POST if request.POST.get("step") == "confirm" else None)
    status = 200
    pending = services.pending_phone(account, purpose)
    if request.method == "POST":
        status = 400
        subject = f"setup:{account.pk}"
        if request.POST.get("step") == "send" and phone_form.is_valid():
            pending = phone_form.cleaned_data["phone"]
            services.send_phone_code(account, pending, phone_form.cleaned_data["channel"], purpose)
            status = 200
            code_form = forms.CodeForm()
        elif request.POST.get("step") == "confirm":
            if services.CODE_ENTRY_LIMITER.is_locked(subject):
                code_form.add_error(None, "Too many wrong codes. Try again in 15 minutes.")
                status = 429
            elif pending is None:
                code_form.add_error(None, "The code expired. Enter your phone number again.")
            elif code_form.is_valid():
                if services.check_phone_code(account, code_form.cleaned_data["code"], purpose):
                    device = services.add_phone(account, pending)
                    return web.redirect_with_notice(security_url(), f"Your phone \u201c{device}\u201d was added.")
                services.CODE_ENTRY_LIMITER.failure(subject)
                code_form.add_error("code", "That code is not correct or has expired.")
    context = _context(request, account, sandbox_session, "security")
    context.update(
        {
            "phone_form": phone_form,
            "code_form": code_form,
            "pending": pending,
            "masked": services.mask_phone(pending) if pending else None,
        }
    )
    return render_page(request, "idme_sandbox/account/setup_phone.html", context, status=status)


def _own_device(account: Account, device_id: str) -> Device:
    device = Device.objects.filter(account=account, device_id=device_id).first()
    if device is None:
        raise Http404("No such device.")
    return device


@never_cache
@require_http_methods(["GET", "POST"])
@web.recent_sign_in
def rename_device(
    request: HttpRequest, device_id: str, account: Account, sandbox_session: SandboxSession
) -> HttpResponse:
    device = _own_device(account, device_id)
    form = forms.RenameForm(request.POST or None, initial={"name": device.name})
    if request.method == "POST" and form.is_valid():
        old = str(device)
        services.rename_device(device, form.cleaned_data["name"])
        return web.redirect_with_notice(security_url(), f"\u201c{old}\u201d was renamed to \u201c{device}\u201d.")
    context = _context(request, account, sandbox_session, "security") | {"form": form, "device": device}
    return render_page(
        request, "idme_sandbox/account/rename.html", context, status=400 if request.method == "POST" else 200
    )


@never_cache
@require_http_methods(["GET", "POST"])
@web.recent_sign_in
def delete_device(
    request: HttpRequest, device_id: str, account: Account, sandbox_session: SandboxSession
) -> HttpResponse:
    device = _own_device(account, device_id)
    is_last = account.devices.count() <= 1
    status = 200
    if request.method == "POST":
        try:
            services.delete_device(device)
        except services.LastMethod:
            is_last = True
            status = 409
        else:
            return web.redirect_with_notice(security_url(), f"\u201c{device}\u201d was deleted.")
    context = _context(request, account, sandbox_session, "security") | {"device": device, "is_last": is_last}
    return render_page(request, "idme_sandbox/account/delete.html", context, status=status)
