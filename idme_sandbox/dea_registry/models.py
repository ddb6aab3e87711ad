"""The registry's data: registrations as the DEA would answer them, and the subscribers (API keys)."""

from __future__ import annotations

import datetime as dt
import hashlib

from django.db import models
from django.utils import timezone


class BusinessActivity(models.TextChoices):
    PRACTITIONER = "practitioner", "Practitioner"
    MID_LEVEL_PRACTITIONER = "mid_level_practitioner", "Mid-level practitioner"
    PHARMACY = "pharmacy", "Pharmacy"
    HOSPITAL = "hospital", "Hospital/Clinic"


class RegistryStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


# The schedule codes the registry answers with, in the DEA's order.
SCHEDULE_CODES = ("2", "2N", "3", "3N", "4", "5")


class DeaRegistryRecord(models.Model):
    """One DEA registration as the registry knows it."""

    dea_number = models.CharField("DEA number", max_length=9, unique=True)
    registrant_last_name = models.CharField(max_length=100)
    registrant_first_name = models.CharField(max_length=100, blank=True)
    business_activity = models.CharField(
        max_length=32, choices=BusinessActivity.choices, default=BusinessActivity.PRACTITIONER
    )
    # Comma-separated codes from SCHEDULE_CODES, e.g. "2,2N,3,3N,4,5".
    schedules = models.CharField(max_length=40, default=",".join(SCHEDULE_CODES))
    state = models.CharField(max_length=2)
    expires_on = models.DateField()
    status = models.CharField(max_length=8, choices=RegistryStatus.choices, default=RegistryStatus.ACTIVE)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["dea_number"]
        verbose_name = "DEA registry record"

    def __str__(self) -> str:
        return f"{self.dea_number} {self.registrant_last_name} ({self.status})"

    def schedule_list(self) -> list[str]:
        given = {code.strip().upper() for code in self.schedules.split(",") if code.strip()}
        return [code for code in SCHEDULE_CODES if code in given]

    def status_on(self, today: dt.date) -> str:
        """An active registration on or after its expiry date is answered as expired."""
        if self.status == RegistryStatus.ACTIVE and today >= self.expires_on:
            return RegistryStatus.EXPIRED
        return self.status


class DeaRegistrySubscriber(models.Model):
    """A subscriber of the registry: it calls the API with `Authorization: Bearer <api key>`.

    Only the SHA-256 of the key is stored."""

    name = models.CharField(max_length=100, unique=True)
    key_sha256 = models.CharField(max_length=64, unique=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "DEA registry subscriber"

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def digest(api_key: str) -> str:
        return hashlib.sha256(api_key.encode()).hexdigest()
