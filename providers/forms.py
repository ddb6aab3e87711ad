from __future__ import annotations

from django import forms

from ehr.geography import US_STATE_CODES
from providers.models import Provider


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
