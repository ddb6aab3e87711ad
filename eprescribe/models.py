"""Patients, pharmacies, medications and prescriptions (DEA 21 CFR 1311).

Only eprescribe.services changes prescriptions: it holds the state machine, the refill
rules (DEA-18), the ready mark (DEA-07), signing (DEA-11) and the lock on signed rows
(DEA-12). Nothing deletes a prescription (DEA-17): a prescription is cancelled instead.
"""

from __future__ import annotations

import uuid
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from providers.models import DeaRegistration, Practice, Provider

ncpdp_id_validator = RegexValidator(r"^\d{7}$", "An NCPDP id is exactly 7 digits.", code="ncpdp_format")
zip_validator = RegexValidator(r"^\d{5}(-\d{4})?$", "Enter a ZIP code such as 10001 or 10001-1234.", code="zip")
state_validator = RegexValidator(r"^[A-Z]{2}$", "Use the two-letter state code, such as NY.", code="state")


class DeaSchedule(models.TextChoices):
    NOT_CONTROLLED = "", "Not controlled"
    CII = "2", "Schedule II"
    CIII = "3", "Schedule III"
    CIV = "4", "Schedule IV"
    CV = "5", "Schedule V"


# The ValidationError code of a Schedule I medication (Django's error codes are strings).
SCHEDULE_I_CODE = "schedule_1"


def validate_prescribable_schedule(value: str) -> None:
    """Schedule I substances have no accepted medical use and cannot be prescribed."""
    if value.strip().upper() in {"1", "I", "CI", "C-I"}:
        raise ValidationError("Schedule I substances cannot be prescribed.", code=SCHEDULE_I_CODE)
    if value not in DeaSchedule.values:
        raise ValidationError("Choose a DEA schedule of II to V, or not controlled.", code="schedule")


class Patient(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="+")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    address_line1 = models.CharField("Address", max_length=200)
    address_line2 = models.CharField("Address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2, validators=[state_validator])
    postal_code = models.CharField("ZIP code", max_length=10, validators=[zip_validator])

    class Meta:
        ordering = ["last_name", "first_name", "pk"]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.date_of_birth:%m/%d/%Y})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def address_lines(self) -> list[str]:
        lines = [self.address_line1, self.address_line2, f"{self.city}, {self.state} {self.postal_code}"]
        return [line for line in lines if line]


class Pharmacy(models.Model):
    ncpdp_id = models.CharField("NCPDP id", max_length=7, unique=True, validators=[ncpdp_id_validator])
    name = models.CharField(max_length=200)
    address_line1 = models.CharField("Address", max_length=200)
    address_line2 = models.CharField("Address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2, validators=[state_validator])
    postal_code = models.CharField("ZIP code", max_length=10, validators=[zip_validator])
    phone = models.CharField(max_length=32)
    accepts_epcs = models.BooleanField(
        "Accepts EPCS", default=False, help_text="Receives electronic prescriptions for controlled substances"
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "pharmacies"

    def __str__(self) -> str:
        return f"{self.name} ({self.city}, {self.state})"


class Medication(models.Model):
    name = models.CharField(max_length=200)
    strength = models.CharField(max_length=60, help_text="For example 5 mg")
    dosage_form = models.CharField(max_length=60, help_text="For example tablet")
    dea_schedule = models.CharField(
        "DEA schedule",
        max_length=2,
        blank=True,
        default=DeaSchedule.NOT_CONTROLLED,
        choices=DeaSchedule.choices,
        validators=[validate_prescribable_schedule],
    )

    class Meta:
        ordering = ["name", "strength"]
        constraints = [
            models.UniqueConstraint(fields=["name", "strength", "dosage_form"], name="unique_medication"),
            models.CheckConstraint(
                condition=models.Q(dea_schedule__in=DeaSchedule.values), name="medication_schedule_2_to_5_or_none"
            ),
        ]

    def __str__(self) -> str:
        schedule = f" (C-{self.schedule_roman})" if self.is_controlled else ""
        return f"{self.name} {self.strength} {self.dosage_form}{schedule}"

    def clean_fields(self, exclude: Any = None) -> None:
        # Say "Schedule I cannot be prescribed" rather than the generic invalid-choice error.
        try:
            validate_prescribable_schedule(str(self.dea_schedule))
        except ValidationError as exc:
            if exc.code != SCHEDULE_I_CODE:
                raise
            errors: dict[str, Any] = {"dea_schedule": exc.messages}
            try:
                super().clean_fields(exclude={*(exclude or ()), "dea_schedule"})
            except ValidationError as others:
                errors.update(others.message_dict)
            raise ValidationError(errors) from None
        super().clean_fields(exclude=exclude)

    @property
    def is_controlled(self) -> bool:
        return self.dea_schedule != DeaSchedule.NOT_CONTROLLED

    @property
    def schedule_roman(self) -> str:
        return {"2": "II", "3": "III", "4": "IV", "5": "V"}.get(self.dea_schedule, "")


class PrescriptionState(models.TextChoices):
    DRAFT = "draft", "Draft"
    READY = "ready", "Ready for signing"
    SIGNED = "signed", "Signed"
    TRANSMITTED = "transmitted", "Transmitted"
    TRANSMISSION_FAILED = "transmission_failed", "Transmission failed"
    CANCELLED = "cancelled", "Cancelled"


# The fields that carry DEA-required data: changing one clears "ready" (DEA-07); once
# signed, none of them may change (DEA-12; enforced by the service and, on PostgreSQL, by a
# trigger that also covers the signature columns).
DEA_REQUIRED_FIELDS = (
    "patient",
    "prescriber",
    "dea_registration",
    "medication",
    "quantity",
    "quantity_unit",
    "directions",
    "refills",
    "earliest_fill_date",
    "pharmacy",
    "written_date",
)
SIGNATURE_FIELDS = (
    "signed_at",
    "canonical_payload",
    "digest_sha256",
    "signature",
    "signing_key_id",
    "device_label",
    "challenge_id",
)


class PrescriptionQuerySet(models.QuerySet["Prescription"]):
    def delete(self) -> NoReturn:
        # DEA-17: nothing purges prescriptions; cancel instead.
        raise ValidationError("Prescriptions are never deleted; cancel the prescription instead.")


class Prescription(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="prescriptions")
    prescriber = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="prescriptions")
    dea_registration = models.ForeignKey(
        DeaRegistration,
        on_delete=models.PROTECT,
        related_name="prescriptions",
        null=True,
        blank=True,
        verbose_name="DEA registration",
        help_text="Required for a controlled substance; a prescriber with several chooses one.",
    )
    medication = models.ForeignKey(Medication, on_delete=models.PROTECT, related_name="prescriptions")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(9999)])
    quantity_unit = models.CharField("unit", max_length=30, default="tablets")
    directions = models.CharField(max_length=500)
    refills = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(99)])
    earliest_fill_date = models.DateField("earliest fill date", null=True, blank=True)
    pharmacy = models.ForeignKey(Pharmacy, on_delete=models.PROTECT, related_name="prescriptions")
    written_date = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    state = models.CharField(
        max_length=24, choices=PrescriptionState.choices, default=PrescriptionState.DRAFT, db_index=True
    )
    ready_at = models.DateTimeField(null=True, blank=True)
    ready_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    # Set once by signing (DEA-11); never changed afterwards (DEA-12).
    signed_at = models.DateTimeField(null=True, blank=True)
    canonical_payload = models.TextField(blank=True)
    digest_sha256 = models.CharField("SHA-256 digest", max_length=64, blank=True)
    signature = models.TextField(blank=True, help_text="Ed25519 signature over the canonical payload, base64")
    signing_key_id = models.CharField(max_length=32, blank=True)
    device_label = models.CharField(max_length=120, blank=True)
    challenge_id = models.CharField(max_length=64, blank=True)

    # Transmission (DEA-15).
    transmission_attempts = models.PositiveIntegerField(default=0)
    transmission_error = models.CharField(max_length=500, blank=True)
    transmitted_at = models.DateTimeField(null=True, blank=True)
    pharmacy_message_id = models.CharField(max_length=100, blank=True)

    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=300, blank=True)

    objects = PrescriptionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["prescriber", "state"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="prescription_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"Rx {self.pk}: {self.medication} for {self.patient.full_name} ({self.get_state_display()})"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    @property
    def is_controlled(self) -> bool:
        return self.medication.is_controlled

    @property
    def is_editable(self) -> bool:
        return self.state in (PrescriptionState.DRAFT, PrescriptionState.READY) and not self.is_signed

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        # DEA-17: prescriptions are kept; cancel instead.
        raise ValidationError("Prescriptions are never deleted; cancel the prescription instead.")


# --- the signing ceremony's binding (DEA-19) ----------------------------------------------------
class CeremonyState(models.TextChoices):
    OPEN = "open", "Open"
    SIGNED = "signed", "Signed"
    ENDED = "ended", "Ended"


class CeremonyEnd(models.TextChoices):
    """Why a ceremony ended without signing (the typed code; eprescribe words the message)."""

    PRESCRIPTION_CHANGED = "prescription_changed", "A prescription changed after the review"
    PRESCRIPTION_CANCELLED = "prescription_cancelled", "A prescription was cancelled after the review"
    SIGNER_CHANGED = "signer_changed", "The prescriber, DEA number or statement changed after the review"


class SigningCeremony(models.Model):
    """One review shown to a prescriber and what it showed, bound by digests (DEA-19).

    Made when the review opens; the 2FA that completes it signs only if every digest is
    still the same under the row locks (eprescribe.ceremony_binding).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="signing_ceremonies")
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(auto_now_add=True)
    prescriber_name = models.CharField(max_length=200)
    dea_numbers = models.JSONField(default=list, help_text="The DEA numbers the review showed")
    signer_sha256 = models.CharField(
        "signer digest", max_length=64, help_text="SHA-256 of the prescriber, DEA registrations and statement shown"
    )
    statement_sha256 = models.CharField("statement digest", max_length=64)
    binding_sha256 = models.CharField("binding digest", max_length=64, help_text="SHA-256 over all of the above")
    state = models.CharField(max_length=10, choices=CeremonyState.choices, default=CeremonyState.OPEN)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, choices=CeremonyEnd.choices, blank=True)
    changed_prescription_ids = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-reviewed_at"]
        indexes = [models.Index(fields=["provider", "state"])]

    def __str__(self) -> str:
        return f"Signing {self.pk} ({self.get_state_display()})"

    @property
    def is_open(self) -> bool:
        return self.state == CeremonyState.OPEN


class CeremonyPrescription(models.Model):
    """One prescription of a ceremony with the digest of its canonical content as reviewed."""

    ceremony = models.ForeignKey(SigningCeremony, on_delete=models.CASCADE, related_name="items")
    prescription = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="ceremony_items")
    position = models.PositiveSmallIntegerField()
    content_sha256 = models.CharField("content digest", max_length=64)

    class Meta:
        ordering = ["ceremony", "position"]
        constraints = [
            models.UniqueConstraint(fields=["ceremony", "prescription"], name="one_prescription_per_ceremony"),
        ]

    def __str__(self) -> str:
        return f"Rx {self.prescription_id} in {self.ceremony_id}"
