"""Partner API views: thin JSON wrappers around `idme_sandbox.partner.services`.

Bearer-token API, so CSRF-exempt (no cookies are read). Every refusal is a JSON body with a
stable `error` code (docs/idme-api.md); nothing here answers 500 for bad input.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from idme_sandbox.models import Client, Device, PushTransaction
from idme_sandbox.partner import payload, services
from idme_sandbox.partner.auth import partner_client_for
from idme_sandbox.partner.errors import PartnerError, error_response, invalid_request

MAX_BATCH = 100
PUSH_EXPIRES_DEFAULT = 120
PUSH_EXPIRES_MAX = 600

PartnerView = Callable[..., HttpResponse]


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def device_json(device: Device) -> dict[str, Any]:
    return {
        "id": device.device_id,
        "name": device.name or device.get_kind_display(),
        "type": device.kind,
        "added_at": _iso(device.added_at),
        "last_used_at": _iso(device.last_used_at),
    }


def transaction_json(push: PushTransaction) -> dict[str, Any]:
    return {
        "txid": push.txid,
        "status": push.current_status(),
        "expires_at": _iso(push.expires_at),
        "answered_at": _iso(push.answered_at),
        "match_number": push.match_number,
    }


def _json(body: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


def partner_endpoint(method: str) -> Callable[[PartnerView], PartnerView]:
    """One HTTP method, a valid `epcs` bearer token, PartnerError -> JSON."""

    def decorate(view: PartnerView) -> PartnerView:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: str) -> HttpResponse:
            if request.method != method:
                return error_response(
                    405, "method_not_allowed", f"Use {method} for this endpoint.", headers={"Allow": method}
                )
            try:
                client = partner_client_for(request)
                return view(request, client, **kwargs)
            except PartnerError as exc:
                return exc.response()

        return wrapper

    return decorate


@partner_endpoint("GET")
def devices(request: HttpRequest, client: Client, user_uuid: str) -> HttpResponse:
    account = services.linked_account(client, user_uuid)
    return _json({"devices": [device_json(device) for device in services.epcs_devices(account)]})


@partner_endpoint("POST")
def totp_verify(request: HttpRequest, client: Client, user_uuid: str) -> HttpResponse:
    body = payload.json_object(request)
    device_id = payload.text(body, "device_id", max_length=200)
    code = payload.text(body, "code", max_length=16)
    if not code.isascii():
        # Codes are ASCII digits; other scripts' digits can never match (and are refused, not checked).
        raise invalid_request("The field 'code' must hold ASCII digits.")
    account = services.linked_account(client, user_uuid)
    check = services.check_code(client, account, device_id, code)
    if check.allowed:
        return _json({"result": "allow"})
    return _json({"result": "deny", "reason": check.reason, "locked_until": _iso(check.locked_until)})


@partner_endpoint("POST")
def push_create(request: HttpRequest, client: Client, user_uuid: str) -> HttpResponse:
    body = payload.json_object(request)
    device_id = payload.text(body, "device_id", max_length=200)
    title = payload.text(body, "title", max_length=200)
    message = payload.text(body, "message", max_length=1000, required=False, min_length=0)
    expires_in = payload.integer(body, "expires_in", default=PUSH_EXPIRES_DEFAULT, minimum=1, maximum=PUSH_EXPIRES_MAX)
    account = services.linked_account(client, user_uuid)
    push = services.send_push(client, account, device_id, title, message, expires_in)
    return _json(transaction_json(push), status=201)


@partner_endpoint("GET")
def push_status(request: HttpRequest, client: Client, txid: str) -> HttpResponse:
    return _json(transaction_json(services.own_transaction(client, txid)))


@partner_endpoint("POST")
def push_statuses(request: HttpRequest, client: Client) -> HttpResponse:
    body = payload.json_object(request)
    txids = payload.string_list(body, "txids", max_items=MAX_BATCH)
    found, missing = services.own_transactions(client, txids)
    return _json({"transactions": [transaction_json(push) for push in found], "not_found": missing})


@partner_endpoint("POST")
def push_cancel(request: HttpRequest, client: Client, txid: str) -> HttpResponse:
    payload.json_object(request, allow_empty=True)
    return _json(transaction_json(services.cancel(client, txid)))


def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return error_response(404, "not_found", "The partner API has no such endpoint (see docs/idme-api.md).")
