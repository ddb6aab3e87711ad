"""People: the sign-in account and the provider profile attached to it."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.crypto import salted_hmac

from providers.validators import validate_npi


class User(AbstractUser):
    # Bumped by "Sign out all other sessions": every session signed with the old value ends.
    session_generation = models.PositiveIntegerField(default=0)

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        return salted_hmac(
            "providers.User.session_auth_hash",
            f"{self.password}:{self.session_generation}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()


class IdentityAssurance(models.TextChoices):
    NONE = "", "Not verified"
    IAL1 = "ial1", "IAL1"
    IAL2 = "ial2", "IAL2"


class Provider(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="provider")
    display_name = models.CharField(max_length=150, help_text="How the name appears across the EHR")
    prescribing_name = models.CharField(
        max_length=150,
        blank=True,
        help_text="The prescribing physician's name displayed in eRx. Leave blank if the same as user's name.",
    )
    npi = models.CharField("NPI", max_length=10, blank=True, validators=[validate_npi])
    phone = models.CharField(max_length=32, blank=True)
    address_line1 = models.CharField("Address", max_length=200, blank=True)
    address_line2 = models.CharField("Address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=2, blank=True, help_text="Two-letter state code")
    postal_code = models.CharField("ZIP code", max_length=10, blank=True)
    medicaid_id = models.CharField("Physician Medicaid Provider id", max_length=20, blank=True)

    # Identity proofing through ID.me (DEA-02). Set only by providers.identity.services.
    idme_uuid = models.CharField("ID.me uuid", max_length=64, blank=True, db_index=True)
    identity_ial = models.CharField(max_length=8, choices=IdentityAssurance.choices, blank=True)
    identity_aal = models.CharField(max_length=8, blank=True)
    identity_verified_at = models.DateTimeField(null=True, blank=True)
    # Compared with ID.me's birth_date claim when both are known (DEA-20; docs/idme-oidc.md).
    # Kept by the practice admin (Django admin), like the legal names on the user account.
    date_of_birth = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["idme_uuid"], condition=~models.Q(idme_uuid=""), name="unique_linked_idme_uuid"
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def name_for_erx(self) -> str:
        return self.prescribing_name or self.display_name

    @property
    def identity_confirmed(self) -> bool:
        return self.identity_ial == IdentityAssurance.IAL2 and self.identity_verified_at is not None


DEA_SCHEDULE_FIELDS = ("schedule_2", "schedule_2n", "schedule_3", "schedule_3n", "schedule_4", "schedule_5")


class DeaRegistration(models.Model):
    """A DEA registration of a prescriber (DEA-05, DEA-18). One is chosen per prescription."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="dea_registrations")
    number = models.CharField("DEA number", max_length=9)
    state = models.CharField(max_length=2, help_text="State of the registered address")
    schedule_2 = models.BooleanField("Schedule II", default=True)
    schedule_2n = models.BooleanField("Schedule IIN", default=True)
    schedule_3 = models.BooleanField("Schedule III", default=True)
    schedule_3n = models.BooleanField("Schedule IIIN", default=True)
    schedule_4 = models.BooleanField("Schedule IV", default=True)
    schedule_5 = models.BooleanField("Schedule V", default=True)
    expires_on = models.DateField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Verification against the DEA registry by an access manager (DEA-20; providers/dea_verification.py).
    # It holds only while the verified values are unchanged: see verification_fingerprint.
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    registry_answer = models.JSONField(default=dict, blank=True, help_text="The registry's answer when verified")
    verified_fingerprint = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["provider", "number"]
        constraints = [models.UniqueConstraint(fields=["number"], name="unique_dea_number")]

    def __str__(self) -> str:
        return f"{self.number} ({self.state})"

    def verification_fingerprint(self) -> str:
        """SHA-256 of the values a verification vouches for: number, state, expiry, schedules."""
        schedules = "".join("1" if getattr(self, name) else "0" for name in DEA_SCHEDULE_FIELDS)
        text = f"{self.number}|{self.state}|{self.expires_on.isoformat()}|{schedules}"
        return hashlib.sha256(text.encode()).hexdigest()


class StateLicense(models.Model):
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="state_licenses")
    state = models.CharField(max_length=2)
    number = models.CharField("license number", max_length=40)
    expires_on = models.DateField()
    # Verification against the state board by an access manager (DEA-20): where it was looked up.
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verification_source = models.CharField(max_length=200, blank=True)
    verification_reference = models.CharField(max_length=100, blank=True)
    verified_fingerprint = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["provider", "state"]
        constraints = [models.UniqueConstraint(fields=["provider", "state", "number"], name="unique_state_license")]

    def __str__(self) -> str:
        return f"{self.state} {self.number}"

    def verification_fingerprint(self) -> str:
        """SHA-256 of the values a verification vouches for: state, number, expiry."""
        text = f"{self.state}|{self.number}|{self.expires_on.isoformat()}"
        return hashlib.sha256(text.encode()).hexdigest()


# --- EPCS permissions: read by providers/epcs.py; changed by epcs_access's two-person flow, and revoked
# at once by providers/epcs.py when no current registration is left (DEA-04; docs/architecture.md) ---
class EpcsPermissionState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    GRANTED = "granted", "Granted"
    REVOKED = "revoked", "Revoked"


class EpcsPermission(models.Model):
    """Whether a prescriber may sign controlled substance prescriptions in a practice (DEA-02,
    DEA-03, DEA-04).

    One row per prescriber and practice: its current state, and which of the prescriber's DEA
    registrations may be used in that practice (empty: any of theirs that counts). Every change
    goes through a two-person EpcsPermissionRequest of that practice (or the immediate "lost or
    stolen device" revocation) and is audited in the practice's chain.
    """

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="epcs_permissions")
    practice = models.ForeignKey("Practice", on_delete=models.PROTECT, related_name="+")
    registration = models.ForeignKey(
        DeaRegistration,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The DEA registration used in this practice; empty: any current, verified one of the prescriber's",
    )
    state = models.CharField(max_length=12, choices=EpcsPermissionState.choices, default=EpcsPermissionState.REQUESTED)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(null=True, blank=True)
    granted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "EPCS permission"
        permissions = [("manage_epcs_access", "Can enter EPCS permission grants and revocations")]
        constraints = [
            models.UniqueConstraint(fields=["provider", "practice"], name="one_epcs_permission_per_practice")
        ]

    def __str__(self) -> str:
        return f"EPCS permission of {self.provider} ({self.get_state_display()})"

    @property
    def is_granted(self) -> bool:
        return self.state == EpcsPermissionState.GRANTED


class EpcsRequestAction(models.TextChoices):
    GRANT = "grant", "Grant"
    REVOKE = "revoke", "Revoke"


class EpcsRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class EpcsPermissionRequest(models.Model):
    """A grant or revocation in a practice, entered by one of its access managers and approved
    by a second person (DEA-03).

    The approver is a DEA registrant of the same practice other than the person who entered it
    and other than the prescriber, and approves with a 2FA challenge on their own ID.me device
    (recorded here).
    """

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="epcs_requests")
    practice = models.ForeignKey("Practice", on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=8, choices=EpcsRequestAction.choices)
    # A grant may name which of the prescriber's DEA registrations is used in the practice
    # (copied to the permission when approved); empty: any of theirs that counts.
    registration = models.ForeignKey(DeaRegistration, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=EpcsRequestStatus.choices, default=EpcsRequestStatus.PENDING)
    note = models.CharField(max_length=300, blank=True)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The mfa VerificationChallenge the approver completed (kept as an id: history outlives rows).
    approval_challenge_id = models.UUIDField(null=True, blank=True)
    approval_device_label = models.CharField(max_length=120, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = "EPCS permission request"
        ordering = ["-entered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "practice"], condition=models.Q(status="pending"), name="one_pending_epcs_request"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} EPCS for {self.provider} ({self.get_status_display()})"

    @property
    def is_pending(self) -> bool:
        return self.status == EpcsRequestStatus.PENDING


class EpcsAccessNotice(models.Model):
    """An in-app notice for the access managers on the EPCS Permissions page (e.g. a lost device)."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="epcs_notices")
    practice = models.ForeignKey("Practice", on_delete=models.PROTECT, related_name="+")
    message = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "EPCS access notice"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.message[:60]


# --- identity binding (owned by providers/identity/binding.py and providers/identity/reviews.py) ---
class IdentityMismatchStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    CONFIRMED = "confirmed", "Confirmed by an access manager"
    REJECTED = "rejected", "Rejected by an access manager"
    SUPERSEDED = "superseded", "Superseded"


class IdentityMismatch(models.Model):
    """An ID.me identity (IAL2) whose name or birth date differs from the provider's (DEA-20).

    Kept from the OIDC callback so that an EPCS access manager other than the prescriber can
    confirm a legitimate difference (a maiden name) with a reason, or reject it. The EHR side
    is a snapshot of the profile when ID.me answered; confirming checks it is still the same.
    """

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="identity_mismatches")
    status = models.CharField(
        max_length=12, choices=IdentityMismatchStatus.choices, default=IdentityMismatchStatus.PENDING
    )
    # Which parts differ: "first_name", "last_name", "birth_date" (providers.identity.binding.Difference).
    differences = models.JSONField(default=list)
    idme_uuid = models.CharField("ID.me uuid", max_length=64)
    idme_fname = models.CharField("first name at ID.me", max_length=150, blank=True)
    idme_lname = models.CharField("last name at ID.me", max_length=150, blank=True)
    idme_email = models.CharField("email at ID.me", max_length=254, blank=True)
    idme_birth_date = models.DateField("date of birth at ID.me", null=True, blank=True)
    idme_ial = models.PositiveSmallIntegerField("IAL")
    idme_aal = models.PositiveSmallIntegerField("AAL")
    ehr_first_name = models.CharField(max_length=150, blank=True)
    ehr_last_name = models.CharField(max_length=150, blank=True)
    ehr_birth_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider"], condition=models.Q(status="pending"), name="one_pending_identity_mismatch"
            )
        ]

    def __str__(self) -> str:
        return f"Identity mismatch of {self.provider} ({self.get_status_display()})"

    @property
    def idme_name(self) -> str:
        return " ".join(part for part in (self.idme_fname, self.idme_lname) if part)

    @property
    def ehr_name(self) -> str:
        return " ".join(part for part in (self.ehr_first_name, self.ehr_last_name) if part)

    @property
    def is_pending(self) -> bool:
        return self.status == IdentityMismatchStatus.PENDING


# --- practices (issue 10; docs/architecture.md "Practices") ----------------------------------
class Practice(models.Model):
    """A practice: the unit of isolation and of the audit trail (its id names its audit chain).
    Its address and DEA-relevant details are what prescriptions written in it show."""

    name = models.CharField(max_length=200, unique=True)
    address_line1 = models.CharField("Address", max_length=200, blank=True)
    address_line2 = models.CharField("Address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=2, blank=True, help_text="Two-letter state code")
    postal_code = models.CharField("ZIP code", max_length=10, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    time_zone = models.CharField(max_length=64, default="America/New_York", help_text="An IANA time zone name")
    npi = models.CharField(
        "Organisation NPI", max_length=10, blank=True, validators=[validate_npi], help_text="Type 2 NPI, if any"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PracticeRole(models.TextChoices):
    PRESCRIBER = "prescriber", "Prescriber"
    AGENT = "agent", "Agent"
    ACCESS_MANAGER = "access_manager", "Access manager"
    AUDITOR = "auditor", "Auditor"
    PRACTICE_ADMIN = "practice_admin", "Practice admin"


class Membership(models.Model):
    """A person works in a practice in a role; one row per role (a person may hold several)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=20, choices=PracticeRole.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["practice__name", "user__username", "role"]
        constraints = [
            models.UniqueConstraint(fields=["user", "practice", "role"], name="unique_membership_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.practice} · {self.get_role_display()}"
