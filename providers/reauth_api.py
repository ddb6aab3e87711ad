"""The REST API's side of the password re-check (ASVS-05, ASVS-12): one helper every API
call that takes a password uses, with JSON errors (ehr.api)."""

from __future__ import annotations

from rest_framework import exceptions, serializers, status
from rest_framework.request import Request

from ehr.throttle import WINDOW_SECONDS
from providers.passwords import PasswordCheck, message_for
from providers.reauth import confirm_password, recently_authenticated

RECHECK_HELP = "Your EHR password; needed unless this session signed in within the last 15 minutes"
FIRST_FACTOR_HELP = (
    "Your EHR password (the first factor, DEA-01); needed unless this is a browser session "
    "signed in within the session limits"
)


def password_field(help_text: str = RECHECK_HELP) -> serializers.CharField:
    """The optional `password` of a body that may need the password re-check (write-only, kept
    exactly as typed); `confirm_password_if_given` checks it."""
    return serializers.CharField(
        required=False, write_only=True, trim_whitespace=False, max_length=256, help_text=help_text
    )


class ReauthenticationRequired(exceptions.APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "reauthentication_required"
    default_detail = "Confirm your password: send it as 'password' (no sign-in in the last 15 minutes)."


class TooManyAttempts(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_attempts"
    default_detail = "Too many failed password attempts. Wait 15 minutes and try again."
    # Retry-After: the limiter's whole window (the lock ends at the latest then).
    wait = WINDOW_SECONDS


def confirm_password_if_given(request: Request, password: str | None) -> None:
    """Check a `password` sent in the body (unless the re-check is already recent).

    A password accepted here counts for this request, and for the session only when the
    session is signed in as the same user; never for another token or another user (ASVS-12).
    """
    if password is None or recently_authenticated(request):
        return
    check = confirm_password(request, password)
    if check.locked:
        raise TooManyAttempts(message_for(check))
    if check is not PasswordCheck.ACCEPTED:
        raise ReauthenticationRequired(message_for(check))


def require_recent_password(request: Request, password: str | None) -> None:
    """A session signed in (or re-checked) within 15 minutes, or the right password in this request."""
    confirm_password_if_given(request, password)
    if not recently_authenticated(request):
        raise ReauthenticationRequired()
