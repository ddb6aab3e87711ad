"""The simulated ID.me Authenticator: the phone page and its JSON API.

The API is authenticated by the phone's Ed25519 key, never by a cookie:
- `POST pair`    {pairing_code, public_key, name}            -> 201 {device_id, name}
- `POST pending` {device_id, timestamp, signature}            -> 200 {requests: [...]}
  (signature over `pending:<device_id>:<timestamp>`, timestamp within 2 minutes of now)
- `POST answer`  {txid, decision, match_number, signature}    -> 200 {txid, status}
  (signature over `<txid>:<decision>:<match_number>`; rules in idme_sandbox.authenticators)
Errors are JSON `{"error": code, "error_description": text}` with 400, 404, 409, 410 or 429.
"""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from common import jsonbody
from idme_sandbox import authenticators
from idme_sandbox.accounts import services
from idme_sandbox.models import Device, DeviceKind, PushStatus, PushTransaction

PENDING_CLOCK_SKEW_SECONDS = 120

_STATUS_BY_ERROR: dict[type[authenticators.AuthenticatorError], int] = {
    authenticators.PushNotFound: 404,
    authenticators.BadSignature: 400,
    authenticators.WrongMatchNumber: 400,
    authenticators.PushRequestInvalid: 400,
    authenticators.PushAlreadyAnswered: 409,
    authenticators.PushExpired: 410,
}


def json_error(status: int, code: str, description: str) -> JsonResponse:
    return JsonResponse({"error": code, "error_description": description}, status=status)


class BadRequest(Exception):
    pass


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = jsonbody.loads(request.body or b"{}")
    except jsonbody.InvalidJSON as exc:
        raise BadRequest("The body must be a JSON object.") from exc
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    return data


def _string(data: dict[str, Any], name: str, max_length: int, required: bool = True) -> str:
    value = data.get(name, "" if not required else None)
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_length:
        raise BadRequest(f"`{name}` must be a string of at most {max_length} characters.")
    return value.strip()


def _post_only(request: HttpRequest) -> JsonResponse | None:
    if request.method != "POST":
        response = json_error(405, "method_not_allowed", "Use POST.")
        response["Allow"] = "POST"
        return response
    return None


@csrf_exempt
@never_cache
def pair(request: HttpRequest) -> HttpResponse:
    if (refusal := _post_only(request)) is not None:
        return refusal
    try:
        data = _body(request)
        code = _string(data, "pairing_code", 20)
        public_key = _string(data, "public_key", 100)
        name = _string(data, "name", 100, required=False)
        device = services.pair_device(code, public_key, name, str(request.META.get("REMOTE_ADDR", "")))
    except BadRequest as exc:
        return json_error(400, "invalid_request", str(exc))
    except authenticators.BadSignature as exc:
        return json_error(400, "invalid_public_key", exc.message)
    except services.PairingRefused as exc:
        return json_error(exc.status, exc.code, exc.message)
    return JsonResponse({"device_id": device.device_id, "name": device.name}, status=201)


def _request_json(push: PushTransaction) -> dict[str, Any]:
    return {
        "txid": push.txid,
        "title": push.title,
        "message": push.message,
        "partner": push.client.name if push.client else "ID.me",
        "created_at": push.created_at.isoformat(),
        "expires_at": push.expires_at.isoformat(),
    }


@csrf_exempt
@never_cache
def pending(request: HttpRequest) -> HttpResponse:
    """The device's pending requests; the request proves possession of the key."""
    if (refusal := _post_only(request)) is not None:
        return refusal
    try:
        data = _body(request)
        device_id = _string(data, "device_id", 64)
        signature = _string(data, "signature", 200)
        timestamp = data.get("timestamp")
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            raise BadRequest("`timestamp` must be an integer (Unix seconds).")
    except BadRequest as exc:
        return json_error(400, "invalid_request", str(exc))
    if abs(time.time() - timestamp) > PENDING_CLOCK_SKEW_SECONDS:
        return json_error(400, "stale_request", "The timestamp is too far from now; check the phone's clock.")
    device = Device.objects.filter(device_id=device_id, kind=DeviceKind.PUSH).first()
    if device is None:
        return json_error(404, "device_not_found", "This phone is not paired (the device was deleted?).")
    try:
        authenticators.verify_device_signature(device, f"pending:{device_id}:{timestamp}".encode(), signature)
    except authenticators.BadSignature as exc:
        return json_error(400, "invalid_signature", exc.message)
    pushes = (
        PushTransaction.objects.filter(device=device, status=PushStatus.PENDING, expires_at__gt=timezone.now())
        .select_related("client")
        .order_by("created_at")
    )
    return JsonResponse(
        {"device": {"device_id": device.device_id, "name": device.name}, "requests": [_request_json(p) for p in pushes]}
    )


@csrf_exempt
@never_cache
def answer(request: HttpRequest) -> HttpResponse:
    if (refusal := _post_only(request)) is not None:
        return refusal
    try:
        data = _body(request)
        txid = _string(data, "txid", 64)
        decision = _string(data, "decision", 10)
        match_number = _string(data, "match_number", 10, required=False)
        signature = _string(data, "signature", 200)
        push = authenticators.answer_push(txid, decision, match_number, signature)
    except BadRequest as exc:
        return json_error(400, "invalid_request", str(exc))
    except authenticators.AuthenticatorError as exc:
        return json_error(_STATUS_BY_ERROR.get(type(exc), 400), exc.code, exc.message)
    return JsonResponse({"txid": push.txid, "status": push.status})


@require_GET
def phone_page(request: HttpRequest) -> HttpResponse:
    """The phone for people: pairs, keeps its key in this browser, answers requests (phone.js)."""
    return render(request, "idme_sandbox/phone.html", {})
