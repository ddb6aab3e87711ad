"""The application's Ed25519 signing key: it signs EPCS prescriptions (eprescribe) and the
audit trail's checkpoints (audit). It lives here, below both, so each imports it.

The private key comes from settings.EPCS_SIGNING_KEY (PEM) or, when that is empty, from a
key file (settings.EPCS_SIGNING_KEY_FILE) created on first use with 0600 permissions. The
key id is the first 16 hex digits of SHA-256 over the raw public key. Signatures made
with an earlier key still verify when its public key is listed in
settings.EPCS_RETIRED_PUBLIC_KEYS (PEM blocks); see docs/eprescribe.md, "Keys and rotation".
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings


class SigningKeyUnavailable(Exception):
    """The signing key cannot be loaded or created; signing must be refused (DEA-16)."""


@dataclass(frozen=True)
class SigningKey:
    private_key: Ed25519PrivateKey
    key_id: str

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.private_key.sign(data)).decode()


def key_id_for(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


_lock = threading.Lock()
_cached: dict[str, SigningKey] = {}


def _load_pem(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyUnavailable("EPCS signing key is not an Ed25519 private key")
    return key


def _key_from_file(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        return _load_pem(path.read_bytes())
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once keep one key; 0600 from the first byte.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _load_pem(path.read_bytes())
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def signing_key() -> SigningKey:
    """The current application signing key; raises SigningKeyUnavailable (DEA-16)."""
    pem_setting: str = getattr(settings, "EPCS_SIGNING_KEY", "") or ""
    path = Path(getattr(settings, "EPCS_SIGNING_KEY_FILE", Path(settings.VAR_DIR) / "epcs-signing-key.pem"))
    cache_key = f"{hashlib.sha256(pem_setting.encode()).hexdigest()}:{path}"
    with _lock:
        if cache_key in _cached:
            return _cached[cache_key]
        try:
            private = _load_pem(pem_setting.encode()) if pem_setting.strip() else _key_from_file(path)
        except SigningKeyUnavailable:
            raise
        except (OSError, ValueError, TypeError) as exc:
            raise SigningKeyUnavailable(f"EPCS signing key cannot be loaded: {type(exc).__name__}") from exc
        key = SigningKey(private, key_id_for(private.public_key()))
        _cached.clear()
        _cached[cache_key] = key
        return key


def trusted_public_keys() -> dict[str, Ed25519PublicKey]:
    """Key id -> public key: the current key and the retired ones from settings."""
    keys: dict[str, Ed25519PublicKey] = {}
    retired: str = getattr(settings, "EPCS_RETIRED_PUBLIC_KEYS", "") or ""
    marker = "-----END PUBLIC KEY-----"
    for block in retired.split(marker):
        if "-----BEGIN PUBLIC KEY-----" not in block:
            continue
        public = serialization.load_pem_public_key((block.strip() + "\n" + marker + "\n").encode())
        if isinstance(public, Ed25519PublicKey):
            keys[key_id_for(public)] = public
    try:
        current = signing_key()
        keys[current.key_id] = current.private_key.public_key()
    except SigningKeyUnavailable:
        pass
    return keys


def public_keys_pem() -> str:
    """The trusted public keys (current and retired) as PEM blocks, for an outside auditor."""
    return "".join(
        key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        for key in trusted_public_keys().values()
    )


def verify(public_key: Ed25519PublicKey, data: bytes, signature_b64: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True
