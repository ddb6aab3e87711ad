"""Forms of the ID.me sandbox pages (labels follow the seed article)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from common.geography import US_STATE_CODES
from idme_sandbox.accounts import services
from idme_sandbox.models import Account


class SignUpForm(forms.Form):
    fname = forms.CharField(label="First name", max_length=100)
    lname = forms.CharField(label="Last name", max_length=100)
    email = forms.EmailField(label="Email", max_length=254)
    password = forms.CharField(label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean_email(self) -> str:
        email = services.normalize_email(self.cleaned_data["email"])
        if Account.objects.filter(email=email).exists():
            raise ValidationError("An ID.me account with this email already exists. Sign in instead.")
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        password = data.get("password")
        if password:
            try:
                validate_password(password)
            except ValidationError as exc:
                self.add_error("password", exc)
        return data


class SignInForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Enter the 6-digit code",
        max_length=16,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if len(code) != 6 or not code.isdigit():
            raise ValidationError("Enter the 6-digit code.")
        return code


class ConfirmDeviceForm(CodeForm):
    name = forms.CharField(
        label="Name your device",
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "ex. My iPhone"}),
    )


class PhoneChannelForm(forms.Form):
    channel = forms.ChoiceField(
        label="Receive authentication code via phone",
        choices=[("sms", "Text me"), ("voice", "Call me")],
        widget=forms.RadioSelect,
        initial="sms",
    )


class AddPhoneForm(PhoneChannelForm):
    phone = forms.CharField(label="Phone number", max_length=32, widget=forms.TextInput(attrs={"type": "tel"}))
    field_order = ["phone", "channel"]

    def clean_phone(self) -> str:
        phone = services.normalize_phone(self.cleaned_data["phone"])
        if phone is None:
            raise ValidationError("Enter a 10-digit US phone number, e.g. (555) 201-0801.")
        return phone


class RenameForm(forms.Form):
    name = forms.CharField(label="Device name", max_length=100)


class IdentityForm(forms.Form):
    fname = forms.CharField(label="Legal first name", max_length=100)
    lname = forms.CharField(label="Legal last name", max_length=100)
    birth_date = forms.DateField(label="Date of birth", widget=forms.DateInput(attrs={"type": "date"}))
    ssn_last4 = forms.CharField(
        label="Last 4 digits of your Social Security number",
        min_length=4,
        max_length=4,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    street = forms.CharField(label="Street address", max_length=200)
    city = forms.CharField(label="City", max_length=100)
    state = forms.ChoiceField(label="State", choices=[("", "Choose a state")] + [(s, s) for s in US_STATE_CODES])
    zip_code = forms.RegexField(
        label="ZIP code", regex=r"^\d{5}(-\d{4})?$", error_messages={"invalid": "Enter a 5-digit ZIP code."}
    )

    def clean_birth_date(self) -> dt.date:
        born: dt.date = self.cleaned_data["birth_date"]
        today = dt.date.today()
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if born > today or age > 120:
            raise ValidationError("Enter a real date of birth.")
        if age < 18:
            raise ValidationError("You must be at least 18 years old to verify your identity.")
        return born

    def clean_ssn_last4(self) -> str:
        value: str = self.cleaned_data["ssn_last4"]
        if not value.isdigit() or value == "0000":
            raise ValidationError("Enter the last 4 digits of your Social Security number.")
        return value

    def details(self) -> services.IdentityDetails:
        data = self.cleaned_data
        return services.IdentityDetails(
            fname=data["fname"],
            lname=data["lname"],
            birth_date=data["birth_date"],
            ssn_last4=data["ssn_last4"],
            street=data["street"],
            city=data["city"],
            state=data["state"],
            zip_code=data["zip_code"],
        )
