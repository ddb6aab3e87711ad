"""Registering, re-keying and re-enabling a practice's webhook endpoints."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

import audit
from providers.models import Practice
from webhooks.delivery import WebhookAction
from webhooks.events import EventType
from webhooks.models import WebhookEndpoint
from webhooks.signing import generate_secret
from webhooks.urlguard import UnsafeUrl, check_url


@dataclass(frozen=True)
class NewSecret:
    """An endpoint with the secret just made for it: the only time the secret is shown."""

    endpoint: WebhookEndpoint
    secret: str


def clean_url(url: str) -> str:
    """The URL, or a ValidationError saying why it is refused (webhooks.urlguard)."""
    try:
        check_url(url)
    except UnsafeUrl as exc:
        raise ValidationError(str(exc), code="unsafe_url") from exc
    return url


def clean_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    known = {event.value for event in EventType}
    unknown = [event for event in chosen if event not in known]
    if unknown:
        raise ValidationError(f"Unknown event type(s): {', '.join(unknown)}.", code="unknown_event")
    if not chosen:
        raise ValidationError("Choose at least one event.", code="no_event")
    return [event.value for event in EventType if event.value in chosen]


def create_endpoint(
    *, practice: Practice, url: str, events: Iterable[str], description: str = "", actor: Any = None
) -> NewSecret:
    endpoint = WebhookEndpoint(practice=practice, url=url, events=list(events), description=description)
    return register(endpoint, actor=actor)


def register(endpoint: WebhookEndpoint, *, actor: Any = None) -> NewSecret:
    """Save a new endpoint (checked URL and events) with a fresh secret; audited in its practice's chain."""
    endpoint.url = clean_url(endpoint.url)
    endpoint.events = clean_events(endpoint.events)
    endpoint.created_by = actor if getattr(actor, "pk", None) else None
    endpoint.active = True
    secret = generate_secret()
    endpoint.secret = secret
    with transaction.atomic():
        endpoint.save()
        audit.record(
            WebhookAction.ENDPOINT_CREATED,
            actor=actor,
            target=endpoint,
            chain=endpoint.practice_id,
            details={"url": endpoint.url, "events": endpoint.events},
        )
    return NewSecret(endpoint, secret)


def save_changes(endpoint: WebhookEndpoint, *, actor: Any = None) -> WebhookEndpoint:
    """Save an edited endpoint (URL, events, description, on/off); turning a disabled one on
    again goes through `reactivate`."""
    endpoint.url = clean_url(endpoint.url)
    endpoint.events = clean_events(endpoint.events)
    was_active = WebhookEndpoint.objects.filter(pk=endpoint.pk, active=True).exists()
    with transaction.atomic():
        endpoint.save(update_fields=["url", "events", "description", "active"])
        audit.record(
            WebhookAction.ENDPOINT_CHANGED,
            actor=actor,
            target=endpoint,
            chain=endpoint.practice_id,
            details={"url": endpoint.url, "events": endpoint.events, "active": endpoint.active},
        )
    if endpoint.active and not was_active:
        return reactivate(endpoint, actor=actor)
    return endpoint


def rotate_secret(endpoint: WebhookEndpoint, *, actor: Any = None) -> NewSecret:
    secret = generate_secret()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret=secret)
        endpoint.refresh_from_db()
        audit.record(WebhookAction.SECRET_ROTATED, actor=actor, target=endpoint, chain=endpoint.practice_id)
    return NewSecret(endpoint, secret)


def reactivate(endpoint: WebhookEndpoint, *, actor: Any = None) -> WebhookEndpoint:
    """Turn a disabled endpoint on again with a clean failure count (events missed are not replayed)."""
    clean_url(endpoint.url)
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            active=True, failure_count=0, disabled_at=None, disabled_reason=""
        )
        endpoint.refresh_from_db()
        audit.record(WebhookAction.ENDPOINT_REACTIVATED, actor=actor, target=endpoint, chain=endpoint.practice_id)
    return endpoint
