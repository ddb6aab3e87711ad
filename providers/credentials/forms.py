"""Forms for the prescriber credentials on eRx Info (they parse; providers.credentials.services decides)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from common.geography import US_STATE_CODES
from providers.credentials.rules import today
from providers.credentials.services import check_dea_number
from providers.models import DeaRegistration, Provider

STATE_CHOICES = [("", "Choose a state")] + [(code, code) for code in US_STATE_CODES]
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _future_date(value: dt.date) -> dt.date:
    if value <= today():
        raise ValidationError("This date has passed. Enter the expiry date of the current registration.")
    return value


class DeaRegistrationForm(forms.Form):
    number = forms.CharField(
        label="DEA Number",
        max_length=20,
        help_text="2 letters and 7 digits, such as AS1234563. The second letter is the first letter of your last name.",
    )
    state = forms.ChoiceField(label="State", choices=STATE_CHOICES)
    expires_on = forms.DateField(
        label="Expires on", widget=DATE_WIDGET, help_text="Signing with it stops on this date."
    )
    schedule_2 = forms.BooleanField(label="Schedule II", required=False)
    schedule_2n = forms.BooleanField(label="Schedule IIN", required=False)
    schedule_3 = forms.BooleanField(label="Schedule III", required=False)
    schedule_3n = forms.BooleanField(label="Schedule IIIN", required=False)
    schedule_4 = forms.BooleanField(label="Schedule IV", required=False)
    schedule_5 = forms.BooleanField(label="Schedule V", required=False)

    def __init__(self, *args: Any, provider: Provider, instance: DeaRegistration | None = None, **kwargs: Any) -> None:
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                name: getattr(instance, name)
                for name in (
                    "number",
                    "state",
                    "expires_on",
                    "schedule_2",
                    "schedule_2n",
                    "schedule_3",
                    "schedule_3n",
                    "schedule_4",
                    "schedule_5",
                )
            }
        elif instance is None and "initial" not in kwargs:
            kwargs["initial"] = {
                "schedule_2": True,
                "schedule_2n": True,
                "schedule_3": True,
                "schedule_3n": True,
                "schedule_4": True,
                "schedule_5": True,
            }
        super().__init__(*args, **kwargs)
        self.provider = provider
        self.instance = instance

    def clean_number(self) -> str:
        return check_dea_number(
            self.provider, self.cleaned_data["number"], exclude_pk=self.instance.pk if self.instance else None
        )

    def clean_expires_on(self) -> dt.date:
        value: dt.date = self.cleaned_data["expires_on"]
        if self.instance is None:
            return _future_date(value)
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        schedules = [data.get(name) for name in ("schedule_2", "schedule_2n", "schedule_3", "schedule_3n")]
        schedules += [data.get("schedule_4"), data.get("schedule_5")]
        if not any(schedules):
            raise ValidationError("Choose at least one schedule this registration allows.")
        return data


LICENSE_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .\-/]{0,39}")


class StateLicenseForm(forms.Form):
    state = forms.ChoiceField(label="State", choices=STATE_CHOICES)
    number = forms.CharField(label="State License", max_length=40, help_text="The license number")
    expires_on = forms.DateField(label="Expires on", widget=DATE_WIDGET)

    def clean_number(self) -> str:
        number = str(self.cleaned_data["number"]).strip()
        if not LICENSE_NUMBER.fullmatch(number):
            raise ValidationError("Enter the license number as printed (letters, digits, spaces, . - /).")
        return number


class PrescriberDetailsForm(forms.Form):
    medicaid_id = forms.CharField(label="Physician Medicaid Provider id", max_length=20, required=False)
    prescribing_name = forms.CharField(
        label="Prescribing name",
        max_length=150,
        required=False,
        help_text="The prescribing physician's name displayed in eRx. Leave blank if the same as user's name",
    )

    def clean_medicaid_id(self) -> str:
        value = str(self.cleaned_data.get("medicaid_id", "")).strip()
        if value and not re.fullmatch(r"[A-Za-z0-9\-]{1,20}", value):
            raise ValidationError("A Medicaid provider id has letters, digits and dashes only.")
        return value

    def clean_prescribing_name(self) -> str:
        value = str(self.cleaned_data.get("prescribing_name", "")).strip()
        if any(ord(c) < 32 for c in value):
            raise ValidationError("Enter the name on one line.")
        return value


class LicenseVerificationForm(forms.Form):
    """An access manager's record of a state-board lookup (DEA-20)."""

    source = forms.CharField(
        label="Checked at",
        max_length=200,
        help_text="The state board and how it was checked, e.g. NY Office of the Professions online verification",
    )
    reference = forms.CharField(
        label="Board reference", max_length=100, help_text="The board's reference or lookup id for this check"
    )

    def clean_source(self) -> str:
        value = str(self.cleaned_data["source"]).strip()
        if any(ord(c) < 32 for c in value):
            raise forms.ValidationError("Enter the source on one line.")
        return value

    def clean_reference(self) -> str:
        value = str(self.cleaned_data["reference"]).strip()
        if any(ord(c) < 32 for c in value):
            raise forms.ValidationError("Enter the reference on one line.")
        return value
