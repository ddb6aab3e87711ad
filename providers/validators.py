"""Identifier check digits for prescriber data."""

from __future__ import annotations

import re

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


# First letters the DEA assigns to registrants who may prescribe (A/B/F/G practitioners,
# M mid-level practitioners).
DEA_PRESCRIBER_PREFIXES = "ABFGM"
# Two letters (the second may be 9) and seven digits.
DEA_FORMAT = re.compile(r"[A-Z][A-Z0-9][0-9]{7}")


def dea_check_digit_valid(number: str) -> bool:
    """(d1 + d3 + d5) + 2 * (d2 + d4 + d6); its last digit is d7."""
    if not DEA_FORMAT.fullmatch(number):
        return False
    digits = [int(c) for c in number[2:]]
    total = digits[0] + digits[2] + digits[4] + 2 * (digits[1] + digits[3] + digits[5])
    return total % 10 == digits[6]


def validate_dea_number(number: str, last_name: str) -> None:
    """DEA-18: format, registrant type, second letter against the last name, check digit."""
    number = number.strip().upper()
    # ASCII only: str.isdigit() also accepts digits such as "²" that int() cannot read.
    if not DEA_FORMAT.fullmatch(number):
        raise ValidationError("A DEA number is 2 letters followed by 7 digits, such as AS1234563.", code="dea_format")
    if number[0] not in DEA_PRESCRIBER_PREFIXES:
        raise ValidationError(
            f"A DEA number starting with {number[0]} does not belong to a practitioner who may prescribe.",
            code="dea_type",
        )
    second = number[1]
    initial = last_name.strip()[:1].upper()
    mid_level_nine = number[0] == "M" and second == "9"
    if not mid_level_nine and second != initial:
        raise ValidationError(
            f"The second letter of a DEA number is the first letter of the registrant's last name ({initial or '?'}).",
            code="dea_name",
        )
    if not dea_check_digit_valid(number):
        raise ValidationError("This DEA number fails its check digit; check for a typo.", code="dea_checksum")
