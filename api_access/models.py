"""Personal access tokens and the practice an OAuth application belongs to."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.conf import settings
from django.db import models
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings

TOKEN_PREFIX = "ehr_pat_"


def token_digest(raw: str) -> str:
    """SHA-256 of the whole token: what is stored and looked up (the token itself never is)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class PersonalAccessToken(models.Model):
    """A script's token: shown once, stored as its SHA-256, scoped, expiring, revocable (ASVS-12)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters, to recognise a token in the list (not enough to use it).
    hint = models.CharField(max_length=16, editable=False)
    scope = models.TextField(help_text="Space-separated scopes")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="pat_user_live")]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()

    def allow_scopes(self, scopes: Iterable[str]) -> bool:
        """Same question DOT's AccessToken answers (ehr.api_permissions.TokenScopes asks either)."""
        return set(scopes) <= set(self.scopes)

    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired()


class ApplicationPractice(models.Model):
    """The practice an OAuth application (DOT's Application) belongs to: only its members can
    authorize it and its tokens work only while the person is a member (docs/api.md)."""

    application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="practice_link"
    )
    practice = models.ForeignKey("providers.Practice", on_delete=models.CASCADE, related_name="api_applications")

    class Meta:
        verbose_name = "practice of the application"

    def __str__(self) -> str:
        return str(self.practice)
