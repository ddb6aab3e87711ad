"""The EHR's mirror of a provider's ID.me devices, and its own choice of primary device.

The devices themselves (secrets, keys) live at ID.me; this is what ID.me lists plus the
EHR-only fact of which one is primary.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from providers.models import Provider


class DeviceKind(models.TextChoices):
    TOTP = "totp", "Generate 2FA Key"
    PUSH = "push", "Push Notification 2FA"


class ProviderDevice(models.Model):
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="devices")
    idme_device_id = models.CharField("ID.me device id", max_length=64)
    name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=8, choices=DeviceKind.choices)
    added_at = models.DateTimeField(help_text="When the device was added at ID.me")
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(default=timezone.now)
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "idme_device_id"], name="one_mirror_per_idme_device"),
            # At most one primary device per provider, enforced by the database.
            models.UniqueConstraint(
                fields=["provider"], condition=models.Q(is_primary=True), name="one_primary_device_per_provider"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.get_kind_display()

    @property
    def label(self) -> str:
        """The name shown in the device table; unnamed devices read as their kind."""
        return label_for(self.name, self.kind)


def label_for(name: str, kind: str) -> str:
    if name:
        return name
    return "Unnamed code generator" if kind == DeviceKind.TOTP else "Unnamed push device"


class DeviceSyncState(models.Model):
    """When the provider's mirror was last refreshed from ID.me, and what the clinician must hear.

    One row per provider, written only by mfa.services. `notices` are sentences for the
    clinician's next page (a background sync has no page to speak on).
    """

    provider = models.OneToOneField(Provider, on_delete=models.CASCADE, related_name="device_sync")
    last_synced_at = models.DateTimeField(null=True, blank=True, help_text="Last successful sync with ID.me")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, help_text="Why the last attempt failed, if it did")
    background_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="When a background sync was last queued"
    )
    notices = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "device sync state"

    def __str__(self) -> str:
        return f"device sync of {self.provider}"

    @property
    def last_attempt_failed(self) -> bool:
        return bool(self.last_error) and self.last_attempt_at is not None


# --- 2FA challenges (owned by mfa/challenges.py) -----------------------------
class ChallengeMethod(models.TextChoices):
    CODE = "code", "Enter the 6-digit code"
    PUSH = "push", "Push Notification"


class ChallengeStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    EXPIRED = "expired", "Expired"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class VerificationChallenge(models.Model):
    """One second-factor check of a provider with one ID.me device, for one purpose.

    `subject` names what is being authorised (e.g. "ceremony:<uuid>"); at most one
    challenge per (purpose, subject) is ever approved. Only mfa.challenges writes these rows.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="challenges")
    # SET_NULL: a device removed at ID.me (and from the mirror) keeps its challenge history.
    device = models.ForeignKey(
        ProviderDevice, null=True, blank=True, on_delete=models.SET_NULL, related_name="challenges"
    )
    device_label = models.CharField(max_length=120, help_text="Device name and kind when the challenge started")
    idme_device_id = models.CharField("ID.me device id", max_length=64)
    purpose = models.CharField(max_length=32)
    subject = models.CharField(max_length=120)
    context = models.JSONField(default=dict, blank=True, help_text="What the purpose's handler needs")
    method = models.CharField(max_length=8, choices=ChallengeMethod.choices)
    status = models.CharField(max_length=12, choices=ChallengeStatus.choices, default=ChallengeStatus.PENDING)
    idme_txid = models.CharField("ID.me transaction id", max_length=64, blank=True, db_index=True)
    match_number = models.CharField(max_length=4, blank=True)
    expires_at = models.DateTimeField()
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    # A code being checked with ID.me right now (one check at a time per challenge).
    verifying_since = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["purpose", "subject"]),
            models.Index(fields=["status", "method"]),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.subject} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == ChallengeStatus.PENDING
