"""The ID.me stand-in's data: accounts, OIDC clients and tokens, MFA devices, pushes.

Nothing here is imported by the EHR; the EHR sees it only over HTTP.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.utils import timezone
from joserfc.jwk import RSAKey

from common.fields import EncryptedTextField

SANDBOX_KEYS = "IDME_SANDBOX_ENCRYPTION_KEYS"


def new_uuid_hex() -> str:
    return uuid.uuid4().hex


class Account(models.Model):
    """A person's ID.me account."""

    uuid = models.CharField(max_length=32, unique=True, default=new_uuid_hex, editable=False)
    email = models.EmailField(unique=True)
    password = models.CharField(max_length=256)
    fname = models.CharField("first name", max_length=100, blank=True)
    lname = models.CharField("last name", max_length=100, blank=True)
    # Kept from the (simulated) identity verification; sent as the `birth_date` claim when known.
    birth_date = models.DateField("date of birth", null=True, blank=True)
    phone = models.CharField(max_length=32, blank=True, help_text="For text message or phone call codes")
    # Identity assurance: 1 until the (simulated) identity verification succeeds, then 2.
    ial = models.PositiveSmallIntegerField(default=1)
    identity_verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def set_password(self, raw: str) -> None:
        self.password = make_password(raw)

    def check_password(self, raw: str) -> bool:
        return check_password(raw, self.password)


class Operator(models.Model):
    """A person who runs the sandbox: reads the message outbox and the pharmacy network,
    which show patient data. Not an ID.me account; seeded from the settings."""

    username = models.CharField(max_length=150, unique=True)
    password = models.CharField(max_length=256)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.username

    def set_password(self, raw: str) -> None:
        self.password = make_password(raw)

    def check_password(self, raw: str) -> bool:
        return check_password(raw, self.password)


class SignInSession(models.Model):
    """One browser sign-in at the sandbox, an account's or an operator's (idme_sandbox.session).

    The signed cookie names the session; only a digest of its id is kept here. Sign-out
    ends the session on the server, so a copy of the cookie stops working too.
    """

    id_digest = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="sign_in_sessions"
    )
    operator = models.ForeignKey(Operator, null=True, blank=True, on_delete=models.CASCADE, related_name="sessions")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(account__isnull=False, operator__isnull=True)
                | models.Q(account__isnull=True, operator__isnull=False),
                name="idme_sign_in_session_one_holder",
            )
        ]

    def __str__(self) -> str:
        return f"sign-in of {self.account or self.operator}"


class Client(models.Model):
    """A relying party / partner registered with ID.me (the EHR is one)."""

    client_id = models.CharField(max_length=100, unique=True)
    client_secret_hash = models.CharField(max_length=256, blank=True, help_text="Empty for public clients")
    name = models.CharField(max_length=150, help_text="Shown on the consent screen and next to linked devices")
    redirect_uris = models.TextField(help_text="One OIDC redirect URI per line")
    return_uris = models.TextField(
        blank=True, help_text="Addresses Sign In & Security may return to, one per line (no open redirects)"
    )
    scope = models.CharField(max_length=500, default="openid http://idmanagement.gov/ns/assurance/ial/2/aal/2 epcs")
    is_public = models.BooleanField(default=False, help_text="Public clients must use PKCE (S256)")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    def set_client_secret(self, raw: str) -> None:
        self.client_secret_hash = make_password(raw)

    def check_client_secret_value(self, raw: str) -> bool:
        return bool(self.client_secret_hash) and check_password(raw, self.client_secret_hash)

    @property
    def redirect_uri_list(self) -> list[str]:
        return [line.strip() for line in self.redirect_uris.splitlines() if line.strip()]

    @property
    def return_uri_list(self) -> list[str]:
        return [line.strip() for line in self.return_uris.splitlines() if line.strip()]

    # --- authlib ClientMixin (idme_sandbox.oidc.server) ---------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # ID.me requires an explicit redirect_uri when several are registered.
        uris = self.redirect_uri_list
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uri_list

    def check_client_secret(self, client_secret: str) -> bool:
        return self.check_client_secret_value(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type in ("authorization_code", "refresh_token"):
            return True
        # The EPCS partner API: confidential clients allowed the `epcs` scope only.
        return grant_type == "client_credentials" and not self.is_public and "epcs" in self.scope.split()


class SigningKey(models.Model):
    """RS256 keys for ID tokens; the newest active key signs, all published keys verify."""

    kid = models.CharField(max_length=64, unique=True)
    private_key_pem = EncryptedTextField(key_setting=SANDBOX_KEYS)
    created_at = models.DateTimeField(default=timezone.now)
    active = models.BooleanField(default=True, help_text="Signs new tokens")
    published = models.BooleanField(default=True, help_text="Listed in the JWKS")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.kid

    @classmethod
    def generate(cls) -> SigningKey:
        """A new RSA-2048 key that signs from now on (older keys stay published)."""
        key = RSAKey.generate_key(2048, private=True)
        pem = key.as_pem(private=True)
        return cls.objects.create(kid=secrets.token_urlsafe(12), private_key_pem=pem.decode())

    @classmethod
    def current(cls) -> SigningKey:
        """The newest active key; one is generated on first use."""
        key = cls.objects.filter(active=True).order_by("-created_at", "-id").first()
        return key or cls.generate()

    def private_jwk(self) -> RSAKey:
        return RSAKey.import_key(self.private_key_pem, parameters={"kid": self.kid, "use": "sig", "alg": "RS256"})

    def public_jwk(self) -> dict[str, object]:
        key = RSAKey.import_key(self.private_key_pem)
        public: dict[str, object] = dict(key.as_dict(private=False))
        public.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return public


class Consent(models.Model):
    """An account that completed the consent screen for a client is linked to it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="consents")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="consents")
    scope = models.CharField(max_length=500)
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "client"], name="one_consent_per_client")]

    def __str__(self) -> str:
        return f"{self.account} -> {self.client}"


class AuthorizationCode(models.Model):
    code = models.CharField(max_length=120, unique=True)
    client = models.ForeignKey(Client, on_delete=models.CASCADE)
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    redirect_uri = models.TextField()
    scope = models.CharField(max_length=500)
    nonce = models.CharField(max_length=255, blank=True)
    code_challenge = models.CharField(max_length=128, blank=True)
    code_challenge_method = models.CharField(max_length=10, blank=True)
    auth_time = models.IntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for {self.account} ({self.client})"

    LIFETIME_SECONDS = 5 * 60

    @staticmethod
    def digest(code: str) -> str:
        """Codes are stored as SHA-256 digests, like tokens."""
        return hashlib.sha256(code.encode()).hexdigest()

    def is_expired(self) -> bool:
        return (timezone.now() - self.created_at).total_seconds() > self.LIFETIME_SECONDS

    # --- authlib AuthorizationCodeMixin -----------------------------------------
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce or None

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None


class Token(models.Model):
    """Access tokens (300 s) and refresh tokens (7 days, rotated). Stored as SHA-256 digests."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.CASCADE)
    access_token_digest = models.CharField(max_length=64, unique=True)
    refresh_token_digest = models.CharField(max_length=64, blank=True, db_index=True)
    scope = models.CharField(max_length=500)
    issued_at = models.DateTimeField(default=timezone.now)
    access_expires_at = models.DateTimeField()
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token for {self.account or 'client credentials'} ({self.client})"

    ACCESS_LIFETIME_SECONDS = 300
    REFRESH_LIFETIME_SECONDS = 7 * 24 * 60 * 60

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def has_scope(self, scope: str) -> bool:
        return scope in self.scope.split()

    def access_is_valid(self) -> bool:
        return self.revoked_at is None and timezone.now() < self.access_expires_at

    # --- authlib TokenMixin (the refresh token grant) ---------------------------
    def check_client(self, client: Client) -> bool:
        return self.client_id == client.pk

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.ACCESS_LIFETIME_SECONDS

    def is_expired(self) -> bool:
        return self.refresh_expires_at is None or timezone.now() >= self.refresh_expires_at

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class DeviceKind(models.TextChoices):
    TOTP = "totp", "Code Generator"
    PUSH = "push", "Push Notification"
    SMS = "sms", "Text Message or Phone Call"


class Device(models.Model):
    """A multi-factor method of an account (Sign In & Security)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="devices")
    device_id = models.CharField(max_length=32, unique=True, default=new_uuid_hex, editable=False)
    kind = models.CharField(max_length=8, choices=DeviceKind.choices)
    name = models.CharField(max_length=100, blank=True)
    # Code Generator: the TOTP seed, encrypted at rest (ASVS-01).
    totp_secret = EncryptedTextField(key_setting=SANDBOX_KEYS, blank=True)
    # Push: the authenticator's Ed25519 public key (raw, base64url); the private key never leaves it.
    public_key = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    added_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Replay guard (NIST-01): the last TOTP time step accepted for this device.
    last_totp_step = models.BigIntegerField(null=True, blank=True)
    # Throttling (NIST-02): consecutive failures and the lock they caused.
    failed_attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    lockouts = models.PositiveIntegerField(default=0, help_text="Lockouts so far; each one lasts longer")

    class Meta:
        ordering = ["added_at", "id"]

    def __str__(self) -> str:
        return self.name or self.get_kind_display()


class PushStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"


class PushTransaction(models.Model):
    """One push to the ID.me Authenticator: a sign-in or a partner's request."""

    txid = models.CharField(max_length=32, unique=True, default=new_uuid_hex, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="pushes")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="pushes")
    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty for sign-in")
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    # Number matching (NIST-03): shown by the requester, typed on the phone, signed in the answer.
    match_number = models.CharField(max_length=2)
    status = models.CharField(max_length=10, choices=PushStatus.choices, default=PushStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"push {self.txid} ({self.status})"

    @staticmethod
    def new_match_number() -> str:
        return f"{secrets.randbelow(90) + 10}"

    def current_status(self) -> str:
        """The status as of now: a pending push past its expiry reads as expired."""
        if self.status == PushStatus.PENDING and timezone.now() >= self.expires_at:
            return PushStatus.EXPIRED
        return self.status


class OutboxMessage(models.Model):
    """Text messages, calls and emails the sandbox 'sends': shown on the message outbox page."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="outbox")
    # A phone number for texts and calls, an email address for notices (ASVS-03, NIST-06).
    phone = models.CharField("to", max_length=254)
    channel = models.CharField(
        max_length=8, choices=[("sms", "Text message"), ("voice", "Phone call"), ("email", "Email")]
    )
    body = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.channel} to {self.phone}"


class PartnerDecision(models.Model):
    """Every verify / push decision the partner API took (NIST, ASVS-09)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE)
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=16)  # totp_verify | push_create | push_cancel | push_answer
    # totp_verify: allow | deny | replay | locked; push_create: created | rate_limited | deny;
    # push_cancel: cancelled | no_change; push_answer: approved | denied | refused
    decision = models.CharField(max_length=16)
    reason = models.CharField(max_length=200, blank=True)
    txid = models.CharField("push transaction", max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.decision}"


# --- pharmacy-network simulator (idme_sandbox/pharmacy/, owned by "prescriptions") ---
class PharmacyMessage(models.Model):
    """A NewRx message the simulated pharmacy network received."""

    ack_id = models.CharField("acknowledgement id", max_length=40, unique=True)
    message_id = models.CharField("sender's MessageID", max_length=100, unique=True)
    pharmacy_ncpdp_id = models.CharField("NCPDP id", max_length=7)
    patient_name = models.CharField(max_length=200)
    prescriber_dea_number = models.CharField(max_length=9, blank=True)
    drug_description = models.CharField(max_length=300)
    dea_schedule_code = models.CharField(max_length=10, blank=True)
    digitally_signed = models.BooleanField(default=False)
    body = models.TextField()
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"NewRx {self.message_id} to {self.pharmacy_ncpdp_id}"


class PharmacyNetworkMode(models.Model):
    """One row: whether the simulator refuses messages (to exercise retries)."""

    failing = models.BooleanField(default=False, help_text="Answer every NewRx with an error status")
    failure_status = models.PositiveSmallIntegerField(default=503)
    # How many more messages to refuse; 0 means until switched off.
    failures_left = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "pharmacy network failure mode"

    def __str__(self) -> str:
        return f"failing ({self.failure_status})" if self.failing else "accepting"


# The DEA registry simulator keeps its models in its own folder (docs/dea-registry.md).
from idme_sandbox.dea_registry.models import DeaRegistryRecord, DeaRegistrySubscriber  # noqa: E402, F401
