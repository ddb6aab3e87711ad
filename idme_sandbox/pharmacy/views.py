"""HTTP face of the pharmacy-network simulator."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from common import jsonbody
from idme_sandbox.models import PharmacyMessage
from idme_sandbox.operator.views import operator_required
from idme_sandbox.pharmacy import services
from idme_sandbox.session import read_operator


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


@csrf_exempt  # machine-to-machine endpoint: no cookies are read
@require_POST
def new_rx(request: HttpRequest) -> JsonResponse:
    refusal = services.take_refusal()
    if refusal is not None:
        return _error(refusal.status, "network_unavailable", "The pharmacy network is failing on purpose.")
    content_type = request.content_type or ""
    if "xml" not in content_type:
        return _error(415, "unsupported_media_type", "Send the NewRx as application/xml.")
    try:
        message = services.receive_new_rx(request.body)
    except services.MessageRejected as exc:
        return _error(400, "invalid_message", str(exc))
    return JsonResponse(
        {"message_id": message.ack_id, "status": "accepted", "received_at": message.received_at.isoformat()},
        status=202,
    )


@csrf_exempt  # a sandbox test hook; the sandbox is not mounted in production
@require_POST
def failure_mode(request: HttpRequest) -> JsonResponse:
    """`{"failing": true, "status": 503, "count": 0}`; count 0 = until switched off."""
    try:
        data = jsonbody.loads(request.body or b"{}")
    except jsonbody.InvalidJSON:
        return _error(400, "invalid_json", "The body must be a JSON object.")
    if not isinstance(data, dict) or not isinstance(data.get("failing"), bool):
        return _error(400, "invalid", "'failing' (true or false) is required.")
    status = data.get("status", 503)
    count = data.get("count", 0)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        return _error(400, "invalid", "'status' must be an HTTP error status (400-599).")
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 1000:
        return _error(400, "invalid", "'count' must be a whole number from 0 to 1000.")
    mode = services.set_failure_mode(failing=data["failing"], status=status, count=count)
    return JsonResponse({"failing": mode.failing, "status": mode.failure_status, "count": mode.failures_left})


@require_GET
@operator_required
def message_list(request: HttpRequest) -> HttpResponse:
    context = {
        "messages_received": PharmacyMessage.objects.all()[:200],
        "mode": services.network_mode(),
        "operator": read_operator(request),
    }
    return render(request, "idme_sandbox/pharmacy/messages.html", context)


@require_GET
@operator_required
def message_detail(request: HttpRequest, ack_id: str) -> HttpResponse:
    message = get_object_or_404(PharmacyMessage, ack_id=ack_id)
    return render(request, "idme_sandbox/pharmacy/message.html", {"message": message})
