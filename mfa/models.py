"""The EHR's mirror of a provider's ID.me devices, and its own choice of primary device.

The devices themselves (secrets, keys) live at ID.me; this is what ID.me lists plus the
EHR-only fact of which one is primary.
"""

from __future__ import annotations

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
