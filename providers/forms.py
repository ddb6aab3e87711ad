from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest

from common.geography import US_STATE_CODES
from providers.models import Provider, User
from providers.passwords import PasswordCheck, PasswordPurpose, message_for, verify_own_password

KEEP_API_TOKENS_LABEL = "Keep my API tokens and connected apps"
KEEP_API_TOKENS_HELP = "Unticked, your personal access tokens and the apps you authorized stop working."


class LimitedPasswordChangeForm(PasswordChangeForm):
    """Change password: the old password is checked through the one limiter (ASVS-12)."""

    keep_api_tokens = forms.BooleanField(label=KEEP_API_TOKENS_LABEL, required=False, help_text=KEEP_API_TOKENS_HELP)

    def __init__(self, request: HttpRequest, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        old_password = str(self.cleaned_data.get("old_password", ""))
        check = verify_own_password(self.request, self.user, old_password, PasswordPurpose.CHANGE_PASSWORD)
        if check is PasswordCheck.WRONG:
            raise forms.ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        if check is not PasswordCheck.ACCEPTED:
            raise forms.ValidationError(message_for(check), code=check.value)
        return old_password


class ProfileForm(forms.ModelForm):
    email = forms.EmailField(label="Email", required=True)

    class Meta:
        model = Provider
        fields = [
            "display_name",
            "prescribing_name",
            "npi",
            "phone",
            "address_line1",
            "address_line2",
            "city",
            "state",
            "postal_code",
        ]
        labels = {"display_name": "Name"}

    def clean_state(self) -> str:
        state = str(self.cleaned_data.get("state", "")).strip().upper()
        if state and state not in US_STATE_CODES:
            raise forms.ValidationError("Enter a two-letter US state code, such as NY.")
        return state

    def clean_postal_code(self) -> str:
        code = str(self.cleaned_data.get("postal_code", "")).strip()
        digits = code.replace("-", "")
        if code and not (digits.isdigit() and len(digits) in (5, 9)):
            raise forms.ValidationError("Enter a 5-digit ZIP code or ZIP+4, such as 10001 or 10001-1234.")
        return code

    def clean_phone(self) -> str:
        phone = str(self.cleaned_data.get("phone", "")).strip()
        digits = "".join(c for c in phone if c.isdigit())
        if phone and len(digits) not in (10, 11):
            raise forms.ValidationError("Enter a 10-digit phone number, such as (212) 555-0100.")
        return phone
