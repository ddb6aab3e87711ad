"""The EPCS partner API client (docs/idme-api.md): devices, TOTP checks, pushes.

One `PartnerClient` per process and base URL (`partner_client()`). It authenticates with the
client-credentials grant (scope `epcs`), caches the token until 30 seconds before it expires
and, when ID.me answers 401 anyway (revoked or rotated), fetches a new token once and repeats
the call. All HTTP goes through `idme_client.http.request_json` (timeouts, retries only for
idempotent calls, error mapping).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast, get_args
from urllib.parse import quote

from django.conf import settings

from idme_client.errors import IdmeRejected, IdmeUnavailable
from idme_client.http import request_json
from idme_client.types import Device, DeviceType, PushStatusValue, PushTransaction, TotpDenial, TotpResult

T = TypeVar("T")

PARTNER_SCOPE = "epcs"
TOKEN_EARLY_REFRESH_SECONDS = 30.0
BATCH_LIMIT = 100
_API = "/api/public/v3/epcs"
_DEVICE_TYPES: frozenset[str] = frozenset({"totp", "push"})
_PUSH_STATUSES: frozenset[str] = frozenset({"pending", "approved", "denied", "expired", "cancelled"})
_TOTP_REASONS: frozenset[str] = frozenset(get_args(TotpDenial))


class _Unexpected(Exception):
    """A response body that does not match the contract."""


def _field(body: Mapping[str, Any], name: str) -> Any:
    if name not in body:
        raise _Unexpected(f"missing field {name!r}")
    return body[name]


def _text(body: Mapping[str, Any], name: str) -> str:
    value = _field(body, name)
    if not isinstance(value, str):
        raise _Unexpected(f"field {name!r} is not a string")
    return value


def _when(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, str):
        raise _Unexpected(f"field {name!r} is not a date-time")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise _Unexpected(f"field {name!r} is not an ISO 8601 date-time") from exc
    # A time without an offset is read as UTC, so every result is timezone-aware.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _optional_when(body: Mapping[str, Any], name: str) -> dt.datetime | None:
    value = body.get(name)
    return None if value is None else _when(value, name)


def _object(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise _Unexpected(f"{what} is not a JSON object")
    return body


def parse_device(raw: Any) -> Device:
    body = _object(raw, "device")
    kind = _text(body, "type")
    if kind not in _DEVICE_TYPES:
        raise _Unexpected(f"unknown device type {kind!r}")
    name = body.get("name") or ""
    if not isinstance(name, str):
        raise _Unexpected("field 'name' is not a string")
    return Device(
        id=_text(body, "id"),
        name=name,
        type=cast(DeviceType, kind),
        added_at=_when(_field(body, "added_at"), "added_at"),
        last_used_at=_optional_when(body, "last_used_at"),
    )


def parse_transaction(raw: Any) -> PushTransaction:
    body = _object(raw, "transaction")
    status = _text(body, "status")
    if status not in _PUSH_STATUSES:
        raise _Unexpected(f"unknown push status {status!r}")
    match_number = body.get("match_number")
    return PushTransaction(
        txid=_text(body, "txid"),
        status=cast(PushStatusValue, status),
        expires_at=_when(_field(body, "expires_at"), "expires_at"),
        match_number=None if match_number is None else str(match_number),
        answered_at=_optional_when(body, "answered_at"),
    )


def parse_totp_result(raw: Any) -> TotpResult:
    body = _object(raw, "verification result")
    result = _text(body, "result")
    if result == "allow":
        return TotpResult(allowed=True)
    if result != "deny":
        raise _Unexpected(f"unknown verification result {result!r}")
    raw_reason = body.get("reason")
    # An unknown (or missing) refusal reason from a newer server is still a wrong code.
    reason = cast(TotpDenial, raw_reason) if raw_reason in _TOTP_REASONS else "invalid_code"
    return TotpResult(allowed=False, reason=reason, locked_until=_optional_when(body, "locked_until"))


class PartnerClient:
    """Typed calls to the EPCS partner API for one base URL and one set of partner credentials."""

    def __init__(self, *, base_url: str, client_id: str, client_secret: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.timeout = timeout
        self._token: str | None = None
        self._token_refresh_at = 0.0
        self._token_lock = threading.Lock()

    def __repr__(self) -> str:  # never show the secret or the token
        return f"PartnerClient(base_url={self.base_url!r}, client_id={self.client_id!r})"

    # --- the calls ---------------------------------------------------------------
    def list_devices(self, user_uuid: str) -> list[Device]:
        body = self._call("GET", f"{_API}/users/{_segment(user_uuid)}/devices")
        return self._parse(_devices, body)

    def verify_totp(self, user_uuid: str, device_id: str, code: str) -> TotpResult:
        body = self._call(
            "POST", f"{_API}/users/{_segment(user_uuid)}/totp/verify", {"device_id": device_id, "code": code}
        )
        return self._parse(parse_totp_result, body)

    def create_push(
        self, user_uuid: str, device_id: str, title: str, message: str, expires_in: int = 120
    ) -> PushTransaction:
        payload = {"device_id": device_id, "title": title, "message": message, "expires_in": int(expires_in)}
        body = self._call("POST", f"{_API}/users/{_segment(user_uuid)}/push", payload)
        return self._parse(parse_transaction, body)

    def push_status(self, txid: str) -> PushTransaction:
        body = self._call("GET", f"{_API}/push/{_segment(txid)}")
        return self._parse(parse_transaction, body)

    def push_statuses(self, txids: Iterable[str]) -> list[PushTransaction]:
        """The status of many pushes, up to 100 per request. Unknown txids are left out."""
        unique = list(dict.fromkeys(txids))
        found: list[PushTransaction] = []
        for start in range(0, len(unique), BATCH_LIMIT):
            chunk = unique[start : start + BATCH_LIMIT]
            body = self._call("POST", f"{_API}/push/statuses", {"txids": chunk})
            found.extend(self._parse(_transactions, body))
        return found

    def cancel_push(self, txid: str) -> PushTransaction:
        body = self._call("POST", f"{_API}/push/{_segment(txid)}/cancel", {})
        return self._parse(parse_transaction, body)

    # --- plumbing ----------------------------------------------------------------
    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        token = self._access_token()
        try:
            return self._send(method, path, payload, token)
        except IdmeRejected as exc:
            if exc.status != 401:
                raise
        # The cached token was refused (revoked, rotated, clock skew): one fresh token, one retry.
        return self._send(method, path, payload, self._access_token(stale=token))

    def _send(self, method: str, path: str, payload: dict[str, Any] | None, token: str) -> Any:
        kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token}", "Accept": "application/json"}}
        if payload is not None:
            kwargs["json"] = payload
        return request_json(method, self.base_url + path, timeout=self.timeout, **kwargs)

    def _access_token(self, stale: str | None = None) -> str:
        with self._token_lock:
            fresh = self._token is not None and time.monotonic() < self._token_refresh_at
            if fresh and self._token != stale:
                return cast(str, self._token)
            body = request_json(
                "POST",
                self.base_url + "/oauth/token",
                data={"grant_type": "client_credentials", "scope": PARTNER_SCOPE},
                # client_secret_basic: both parts form-urlencoded first (RFC 6749 section 2.3.1).
                auth=(quote(self.client_id, safe=""), quote(self._client_secret, safe="")),
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
            token, lifetime = self._parse(_token_from, body)
            self._token = token
            self._token_refresh_at = time.monotonic() + max(0.0, lifetime - TOKEN_EARLY_REFRESH_SECONDS)
            return token

    def forget_token(self) -> None:
        """Drop the cached token (the next call fetches a new one)."""
        with self._token_lock:
            self._token = None
            self._token_refresh_at = 0.0

    @staticmethod
    def _parse(build: Callable[[Any], T], raw: Any) -> T:
        try:
            return build(raw)
        except _Unexpected as exc:
            raise IdmeUnavailable(f"ID.me answered with an unexpected body: {exc}.") from exc


def _devices(raw: Any) -> list[Device]:
    return [parse_device(item) for item in _list(_object(raw, "body"), "devices")]


def _transactions(raw: Any) -> list[PushTransaction]:
    return [parse_transaction(item) for item in _list(_object(raw, "body"), "transactions")]


def _list(body: Mapping[str, Any], name: str) -> list[Any]:
    value = _field(body, name)
    if not isinstance(value, list):
        raise _Unexpected(f"field {name!r} is not a list")
    return value


def _token_from(raw: Any) -> tuple[str, float]:
    body = _object(raw, "token response")
    token = _text(body, "access_token")
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise _Unexpected(f"token type {token_type!r} is not Bearer")
    expires_in = body.get("expires_in", 300)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float | str):
        raise _Unexpected("field 'expires_in' is not a number")
    try:
        lifetime = float(expires_in)
    except ValueError as exc:
        raise _Unexpected("field 'expires_in' is not a number") from exc
    return token, lifetime


def _segment(value: str) -> str:
    """An id as one URL path segment (ids are opaque; never let one change the path)."""
    if not isinstance(value, str) or not value:
        raise ValueError("an ID.me id must be a non-empty string")
    return quote(value, safe="")


_clients: dict[tuple[str, str], PartnerClient] = {}
_clients_lock = threading.Lock()


def partner_client() -> PartnerClient:
    """The process's partner client for the configured base URL and credentials."""
    base_url = str(settings.IDME_BASE_URL).rstrip("/")
    client_id = str(settings.IDME_PARTNER_CLIENT_ID)
    key = (base_url, client_id)
    with _clients_lock:
        client = _clients.get(key)
        if client is None or client._client_secret != settings.IDME_PARTNER_CLIENT_SECRET:
            client = PartnerClient(
                base_url=base_url,
                client_id=client_id,
                client_secret=str(settings.IDME_PARTNER_CLIENT_SECRET),
                timeout=float(settings.IDME_TIMEOUT_SECONDS),
            )
            _clients[key] = client
        return client
