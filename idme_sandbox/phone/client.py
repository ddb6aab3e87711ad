"""The command-line phone: pairs with the sandbox, lists and answers push requests over HTTP.

The Ed25519 key pair is made here at pairing; the private key stays in the key file (mode 0600)
and the sandbox receives only the public key. Every call that reads or answers requests is signed.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DEFAULT_BASE_URL = "http://127.0.0.1:8000/idme-sandbox"
DEFAULT_KEY_FILE = "var/idme-phone.key"
TIMEOUT_SECONDS = 10


class PhoneError(Exception):
    """The sandbox refused a call (or could not be reached); `code` is its error code."""

    def __init__(self, message: str, code: str = "error", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class PhoneKey:
    device_id: str
    name: str
    base_url: str
    private_key: Ed25519PrivateKey

    def sign(self, text: str) -> str:
        return b64url(self.private_key.sign(text.encode()))

    def save(self, path: Path) -> None:
        raw = self.private_key.private_bytes_raw()
        data = {"device_id": self.device_id, "name": self.name, "base_url": self.base_url, "private_key": b64url(raw)}
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an older file keeps its mode through O_TRUNC
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)

    @classmethod
    def load(cls, path: Path) -> PhoneKey:
        try:
            data = json.loads(path.read_text())
            raw = base64.urlsafe_b64decode(data["private_key"] + "=" * (-len(data["private_key"]) % 4))
            return cls(
                device_id=data["device_id"],
                name=data.get("name", ""),
                base_url=data["base_url"],
                private_key=Ed25519PrivateKey.from_private_bytes(raw),
            )
        except FileNotFoundError as exc:
            raise PhoneError(f"No key file at {path}: pair first.", "not_paired") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise PhoneError(f"The key file {path} is damaged.", "bad_key_file") from exc


def _post(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    url = f"{base_url.rstrip('/')}/authenticator/api/{path}"
    try:
        response = requests.post(url, json=body, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise PhoneError(f"Could not reach the sandbox at {base_url}: {exc}", "unavailable") from exc
    try:
        data = response.json()
    except ValueError:
        data = {}
    if not response.ok:
        raise PhoneError(
            str(data.get("error_description") or f"HTTP {response.status_code}"),
            str(data.get("error") or "error"),
            response.status_code,
        )
    if not isinstance(data, dict):
        raise PhoneError("The sandbox answered with something that is not a JSON object.", "bad_response")
    return data


def pair(base_url: str, key_file: Path, pairing_code: str, name: str) -> PhoneKey:
    """Make a key pair, send the public key with the pairing code, keep the private key."""
    private_key = Ed25519PrivateKey.generate()
    public_raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    data = _post(base_url, "pair", {"pairing_code": pairing_code, "public_key": b64url(public_raw), "name": name})
    key = PhoneKey(device_id=str(data["device_id"]), name=str(data["name"]), base_url=base_url, private_key=private_key)
    key.save(key_file)
    return key


def pending(key: PhoneKey) -> list[dict[str, Any]]:
    """Pending requests for this phone (a signed, timestamped request)."""
    timestamp = int(time.time())
    signature = key.sign(f"pending:{key.device_id}:{timestamp}")
    data = _post(key.base_url, "pending", {"device_id": key.device_id, "timestamp": timestamp, "signature": signature})
    requests_list = data.get("requests", [])
    return [r for r in requests_list if isinstance(r, dict)]


def answer(key: PhoneKey, txid: str, decision: str, match_number: str) -> dict[str, Any]:
    """Approve or deny, signed over `txid:decision:match_number`."""
    signature = key.sign(f"{txid}:{decision}:{match_number}")
    return _post(
        key.base_url,
        "answer",
        {"txid": txid, "decision": decision, "match_number": match_number, "signature": signature},
    )
