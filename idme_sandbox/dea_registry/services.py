"""The registry's rules: who may ask (subscribers' API keys) and what it answers."""

from __future__ import annotations

import hmac
import re
from typing import Any

from django.db import transaction
from django.utils import timezone

from idme_sandbox.dea_registry.models import DeaRegistryRecord, DeaRegistrySubscriber

# Two letters (the second may be 9) and seven digits, as the DEA issues them.
DEA_NUMBER = re.compile(r"[A-Z][A-Z0-9][0-9]{7}")


class RegistryRefusal(Exception):
    """The request is refused: an HTTP status, a stable code and a sentence."""

    def __init__(self, status: int, code: str, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.headers = headers or {}


_REALM = 'Bearer realm="DEA registry"'


def register_subscriber(name: str, api_key: str) -> DeaRegistrySubscriber:
    """Create or re-key the subscriber `name` (idempotent for the same key)."""
    if len(api_key) < 16:
        raise ValueError("A registry API key has at least 16 characters.")
    with transaction.atomic():
        subscriber, _ = DeaRegistrySubscriber.objects.update_or_create(
            name=name, defaults={"key_sha256": DeaRegistrySubscriber.digest(api_key), "active": True}
        )
    return subscriber


def subscriber_for(authorization: str) -> DeaRegistrySubscriber:
    """The active subscriber whose API key came as `Authorization: Bearer <key>`, or a 401."""
    scheme, _, value = authorization.partition(" ")
    key = value.strip() if scheme.lower() == "bearer" else ""
    if not key:
        raise RegistryRefusal(
            401,
            "invalid_token",
            "An API key is required: Authorization: Bearer <subscriber API key>.",
            headers={"WWW-Authenticate": _REALM},
        )
    digest = DeaRegistrySubscriber.digest(key)
    subscriber = DeaRegistrySubscriber.objects.filter(key_sha256=digest, active=True).first()
    if subscriber is None or not hmac.compare_digest(subscriber.key_sha256, digest):
        raise RegistryRefusal(
            401,
            "invalid_token",
            "The API key is unknown or no longer active.",
            headers={"WWW-Authenticate": f'{_REALM}, error="invalid_token"'},
        )
    return subscriber


def find_registration(number: str) -> DeaRegistryRecord:
    normalized = number.strip().upper()
    if not DEA_NUMBER.fullmatch(normalized):
        raise RegistryRefusal(400, "invalid_dea_number", "A DEA number is 2 letters followed by 7 digits.")
    record = DeaRegistryRecord.objects.filter(dea_number=normalized).first()
    if record is None:
        raise RegistryRefusal(404, "not_found", f"No DEA registration {normalized} is on record.")
    return record


def registration_json(record: DeaRegistryRecord) -> dict[str, Any]:
    """The registry's answer for one registration (docs/dea-registry.md)."""
    today = timezone.localdate()
    first = record.registrant_first_name
    return {
        "dea_number": record.dea_number,
        "registrant_name": f"{record.registrant_last_name}, {first}" if first else record.registrant_last_name,
        "registrant_last_name": record.registrant_last_name,
        "registrant_first_name": first,
        "business_activity": record.business_activity,
        "schedules": record.schedule_list(),
        "state": record.state,
        "expires_on": record.expires_on.isoformat(),
        "status": record.status_on(today),
        "checked_at": timezone.now().isoformat(),
    }
