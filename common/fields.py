"""Encrypted model fields (ASVS-01): Fernet with rotation through MultiFernet."""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.db import models


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(plaintext: str, key_setting: str = "FIELD_ENCRYPTION_KEYS") -> str:
    return _fernet(tuple(getattr(settings, key_setting))).encrypt(plaintext.encode()).decode()


def decrypt(token: str, key_setting: str = "FIELD_ENCRYPTION_KEYS") -> str:
    return _fernet(tuple(getattr(settings, key_setting))).decrypt(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """Stores text encrypted; reads give the plaintext back. Not searchable by design.

    `key_setting` names the settings list of Fernet keys, so a service with its own keys
    (the ID.me sandbox) does not share the EHR's.
    """

    def __init__(self, *args: Any, key_setting: str = "FIELD_ENCRYPTION_KEYS", **kwargs: Any) -> None:
        self.key_setting = key_setting
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.key_setting != "FIELD_ENCRYPTION_KEYS":
            kwargs["key_setting"] = self.key_setting
        return name, path, args, kwargs

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value), self.key_setting)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        return decrypt(value, self.key_setting)
