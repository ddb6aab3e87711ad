"""Partner API errors: a status, a stable code and a sentence, always sent as JSON."""

from __future__ import annotations

from django.http import JsonResponse


class PartnerError(Exception):
    """Refuse the request with `status` and `{"error": code, "error_description": description}`."""

    def __init__(self, status: int, code: str, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.headers = headers or {}
        self.extra: dict[str, object] = {}

    def response(self) -> JsonResponse:
        return error_response(self.status, self.code, self.description, self.headers, self.extra)


def error_response(
    status: int,
    code: str,
    description: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, object] | None = None,
) -> JsonResponse:
    body: dict[str, object] = {"error": code, "error_description": description}
    body.update(extra or {})
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


def invalid_request(description: str) -> PartnerError:
    return PartnerError(400, "invalid_request", description)


def user_not_found() -> PartnerError:
    return PartnerError(404, "user_not_found", "No user with that id is linked to this client.")


def device_not_found(kind_label: str) -> PartnerError:
    return PartnerError(404, "device_not_found", f"The user has no {kind_label} with that id.")


def transaction_not_found() -> PartnerError:
    return PartnerError(404, "transaction_not_found", "No push transaction with that id was created by this client.")


class RateLimited(PartnerError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            "rate_limited",
            "Too many push requests for this user; try again later.",
            headers={"Retry-After": str(retry_after)},
        )
        self.extra = {"retry_after": retry_after}
