"""Webhook endpoints of a practice, deliveries of events to them, and every attempt's response."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from common.fields import EncryptedTextField
from webhooks.events import EVENT_CHOICES


class WebhookEndpoint(models.Model):
    """A URL a practice admin registered for some event types of their practice."""

    practice = models.ForeignKey("providers.Practice", on_delete=models.PROTECT, related_name="webhook_endpoints")
    url = models.URLField("URL", max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="Webhook event types delivered to this endpoint")
    # Standard Webhooks `whsec_...` secret: shown once when made, stored encrypted (ASVS-01).
    secret = EncryptedTextField(editable=False)
    active = models.BooleanField(default=True)
    failure_count = models.PositiveIntegerField(default=0, help_text="Consecutive failed attempts")
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["practice__name", "url"]

    def __str__(self) -> str:
        return f"{self.url} ({self.practice_id})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed (attempts used up)"
    ABANDONED = "abandoned", "Abandoned (endpoint disabled)"


class WebhookDelivery(models.Model):
    """One event for one endpoint: the message, its state and when it is tried next."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    message_id = models.CharField("webhook-id", max_length=40, unique=True)
    audit_event_id = models.BigIntegerField(db_index=True)
    event_type = models.CharField(max_length=40, choices=EVENT_CHOICES)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    response_excerpt = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "audit_event_id"], name="one_delivery_per_event_and_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id}"


class WebhookAttempt(models.Model):
    """The log of one HTTP attempt: when, how long, the answer (status and body excerpt) or the error."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField()
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.status_code or self.error}"
