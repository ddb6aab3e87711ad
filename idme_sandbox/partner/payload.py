"""Reading and checking partner API request bodies (ASVS-10: a clear 400, never a 500)."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from common import jsonbody
from idme_sandbox.partner.errors import PartnerError, invalid_request

MAX_BODY_BYTES = 16 * 1024
# Ids are opaque; the sandbox's are 32 hex characters. Anything outside this never reaches the database.
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def looks_like_id(value: str) -> bool:
    return bool(_ID_PATTERN.fullmatch(value))


def too_large() -> PartnerError:
    return PartnerError(413, "request_too_large", f"The request body is larger than {MAX_BODY_BYTES} bytes.")


def json_object(request: HttpRequest, *, allow_empty: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 invalid_request (413 request_too_large when too big)."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    try:
        declared_length = int(declared)
    except ValueError:
        raise invalid_request("The Content-Length header is not a number.") from None
    if declared_length > MAX_BODY_BYTES:
        raise too_large()
    try:
        raw = request.body
    except RequestDataTooBig:
        raise too_large() from None
    if len(raw) > MAX_BODY_BYTES:
        raise too_large()
    if not raw.strip():
        if allow_empty:
            return {}
        raise invalid_request("The request body must be a JSON object.")
    try:
        body = jsonbody.loads(raw)
    except jsonbody.InvalidJSON:
        raise invalid_request("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.")
    return body


def text(body: dict[str, Any], name: str, *, max_length: int, required: bool = True, min_length: int = 1) -> str:
    """A string field: present (when required), within length, storable as UTF-8 text."""
    if name not in body or body[name] is None:
        if required:
            raise invalid_request(f"The field '{name}' is required.")
        return ""
    value = body[name]
    if not isinstance(value, str):
        raise invalid_request(f"The field '{name}' must be a string.")
    if "\x00" in value:
        raise invalid_request(f"The field '{name}' contains a NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid_request(f"The field '{name}' is not valid Unicode text.") from None
    if len(value.strip()) < min_length:
        raise invalid_request(f"The field '{name}' must not be empty.")
    if len(value) > max_length:
        raise invalid_request(f"The field '{name}' must be at most {max_length} characters.")
    return value


def integer(body: dict[str, Any], name: str, *, default: int, minimum: int, maximum: int) -> int:
    if name not in body or body[name] is None:
        return default
    value = body[name]
    # bool is an int in Python; JSON true is not a number of seconds.
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_request(f"The field '{name}' must be an integer.")
    if not minimum <= value <= maximum:
        raise invalid_request(f"The field '{name}' must be between {minimum} and {maximum}.")
    return value


def string_list(body: dict[str, Any], name: str, *, max_items: int) -> list[str]:
    if name not in body:
        raise invalid_request(f"The field '{name}' is required.")
    value = body[name]
    if not isinstance(value, list):
        raise invalid_request(f"The field '{name}' must be a list of strings.")
    if not value:
        raise invalid_request(f"The field '{name}' must not be empty.")
    if len(value) > max_items:
        raise invalid_request(f"The field '{name}' may hold at most {max_items} items.")
    if not all(isinstance(item, str) for item in value):
        raise invalid_request(f"The field '{name}' must be a list of strings.")
    return list(dict.fromkeys(value))
