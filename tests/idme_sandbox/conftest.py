"""Sandbox accounts and devices for the sandbox's own tests (arranged through the models)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.test import Client as DjangoClient

from idme_sandbox import authenticators
from idme_sandbox.models import Account, Device, DeviceKind, Operator
from tests.idme_fixtures import OPERATOR_TEST_PASSWORD, make_operator

SANDBOX_PASSWORD = "Sandbox-Pass-2026"


@pytest.fixture
def make_sandbox_account(db: None) -> Callable[..., Account]:
    def make(email: str = "pat.doe@example.test", **fields: Any) -> Account:
        fields.setdefault("fname", "Pat")
        fields.setdefault("lname", "Doe")
        account = Account(email=email, **fields)
        account.set_password(SANDBOX_PASSWORD)
        account.save()
        return account

    return make


@pytest.fixture
def sandbox_account(make_sandbox_account: Callable[..., Account]) -> Account:
    return make_sandbox_account()


@pytest.fixture
def sandbox_totp_device(sandbox_account: Account) -> Device:
    return Device.objects.create(
        account=sandbox_account,
        kind=DeviceKind.TOTP,
        name="Office iPhone",
        totp_secret=authenticators.new_totp_secret(),
    )


def raw_public_key(private_key: Ed25519PrivateKey) -> str:
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return authenticators.encode_b64url(raw)


@pytest.fixture
def sandbox_phone_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def sandbox_push_device(sandbox_account: Account, sandbox_phone_key: Ed25519PrivateKey) -> Device:
    return Device.objects.create(
        account=sandbox_account, kind=DeviceKind.PUSH, name="Pat's phone", public_key=raw_public_key(sandbox_phone_key)
    )


def sign_answer(private_key: Ed25519PrivateKey, txid: str, decision: str, number: str) -> str:
    return authenticators.encode_b64url(private_key.sign(authenticators.answer_message(txid, decision, number)))


@pytest.fixture
def sandbox_operator(db: None) -> Operator:
    return make_operator()


def sign_in_operator(client: DjangoClient, username: str = "operator") -> None:
    """Sign `client` in as a sandbox operator through the sign-in page (made if missing)."""
    make_operator(username)
    response = client.post(
        "/idme-sandbox/operator/sign-in/", {"username": username, "password": OPERATOR_TEST_PASSWORD}
    )
    assert response.status_code == 302, response.content
