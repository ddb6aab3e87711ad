"""The registry's JSON API (thin: services decide). A machine-to-machine API with a
subscriber's API key; CSRF-exempt because no cookie is read."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from idme_sandbox.dea_registry import services


def _json(body: dict[str, object], status: int = 200, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


def _refusal(refusal: services.RegistryRefusal) -> JsonResponse:
    return _json({"error": refusal.code, "error_description": refusal.description}, refusal.status, refusal.headers)


@csrf_exempt
def registration(request: HttpRequest, number: str) -> HttpResponse:
    """GET one registration by DEA number."""
    if request.method != "GET":
        return _json(
            {"error": "method_not_allowed", "error_description": "Use GET for this endpoint."},
            405,
            {"Allow": "GET"},
        )
    try:
        services.subscriber_for(request.headers.get("Authorization", ""))
        record = services.find_registration(number)
    except services.RegistryRefusal as refusal:
        return _refusal(refusal)
    return _json(services.registration_json(record))


@csrf_exempt
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return _json(
        {
            "error": "not_found",
            "error_description": "The DEA registry has no such endpoint (see docs/dea-registry.md).",
        },
        404,
    )
