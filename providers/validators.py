"""Identifier check digits for prescriber data."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def validate_npi(value: str) -> None:
    """A National Provider Identifier: 10 digits, Luhn over the '80840' prefix."""
    if len(value) != 10 or not value.isdigit():
        raise ValidationError("An NPI is exactly 10 digits.", code="npi_format")
    if not luhn_valid("80840" + value):
        raise ValidationError("This NPI fails its check digit; check for a typo.", code="npi_checksum")
