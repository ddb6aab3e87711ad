"""The registry client: one GET per lookup, with a timeout, the API key as a bearer token."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

from dea_registry_client.errors import RegistryNotConfigured, RegistryNotFound, RegistryRejected, RegistryUnavailable
from dea_registry_client.types import BusinessActivity, RegistryRecord, RegistryStatus, Schedule

_DEA_NUMBER = re.compile(r"[A-Z][A-Z0-9][0-9]{7}")
_PATH = "/v1/registrations/"


class _Unexpected(Exception):
    """A body that does not match the contract."""


def _text(body: Mapping[str, Any], name: str, *, allow_empty: bool = False) -> str:
    value = body.get(name)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise _Unexpected(f"field {name!r} is missing or not a string")
    return value


def _date(body: Mapping[str, Any], name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(_text(body, name))
    except ValueError as exc:
        raise _Unexpected(f"field {name!r} is not an ISO 8601 date") from exc


def _when(body: Mapping[str, Any], name: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(_text(body, name))
    except ValueError as exc:
        raise _Unexpected(f"field {name!r} is not an ISO 8601 date-time") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def parse_record(raw: Any) -> RegistryRecord:
    if not isinstance(raw, Mapping):
        raise _Unexpected("the registration is not a JSON object")
    schedules = raw.get("schedules")
    if not isinstance(schedules, list) or not all(isinstance(s, str) for s in schedules):
        raise _Unexpected("field 'schedules' is not a list of strings")
    try:
        parsed_schedules = frozenset(Schedule(s) for s in schedules)
        status = RegistryStatus(_text(raw, "status"))
    except ValueError as exc:
        raise _Unexpected(str(exc)) from exc
    activity_value = _text(raw, "business_activity")
    activity = (
        BusinessActivity(activity_value)
        if activity_value in BusinessActivity._value2member_map_
        else BusinessActivity.OTHER
    )
    state = _text(raw, "state")
    if len(state) != 2:
        raise _Unexpected("field 'state' is not a two-letter code")
    return RegistryRecord(
        dea_number=_text(raw, "dea_number"),
        registrant_name=_text(raw, "registrant_name"),
        registrant_last_name=_text(raw, "registrant_last_name"),
        registrant_first_name=_text(raw, "registrant_first_name", allow_empty=True),
        business_activity=activity,
        schedules=parsed_schedules,
        state=state,
        expires_on=_date(raw, "expires_on"),
        status=status,
        checked_at=_when(raw, "checked_at"),
    )


class RegistryClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:  # never shows the key
        return f"RegistryClient(base_url={self.base_url!r}, timeout={self.timeout!r})"

    def lookup(self, dea_number: str) -> RegistryRecord:
        """The registry's record of `dea_number`, or a RegistryError."""
        if not self.base_url or not self._api_key:
            raise RegistryNotConfigured("The DEA registry is not configured (DEA_REGISTRY_URL, DEA_REGISTRY_API_KEY).")
        number = dea_number.strip().upper()
        if not _DEA_NUMBER.fullmatch(number):
            raise RegistryRejected("A DEA number is 2 letters followed by 7 digits.", code="invalid_dea_number")
        url = self.base_url + _PATH + quote(number, safe="")
        try:
            response = requests.get(
                url,
                headers={
                    "Authorization": f"Bearer {self._api_key}",
                    "Accept": "application/json",
                    "User-Agent": "ehr-dea-registry-client/1.0",
                },
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise RegistryUnavailable(f"The DEA registry could not be reached ({type(exc).__name__}).") from exc
        body = self._decode(response)
        try:
            record = parse_record(body)
        except _Unexpected as exc:
            raise RegistryUnavailable(f"The DEA registry's answer does not match the contract ({exc}).") from exc
        if record.dea_number != number:
            raise RegistryUnavailable("The DEA registry answered about a different DEA number.")
        return record

    @staticmethod
    def _decode(response: requests.Response) -> Any:
        if response.status_code >= 500:
            raise RegistryUnavailable(f"The DEA registry answered with a server error ({response.status_code}).")
        try:
            body = response.json() if response.content else {}
        except ValueError as exc:
            raise RegistryUnavailable("The DEA registry answered with something that is not JSON.") from exc
        if response.status_code < 300:
            return body
        code = str(body.get("error", "rejected")) if isinstance(body, dict) else "rejected"
        description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
        message = f"The DEA registry refused the request: {code}" + (f" ({description})" if description else "")
        if response.status_code == 404:
            raise RegistryNotFound(message, code=code, status=404)
        if 300 <= response.status_code < 400:
            raise RegistryUnavailable(f"The DEA registry answered with a redirect ({response.status_code}).")
        raise RegistryRejected(message, code=code, status=response.status_code)


def registry_client() -> RegistryClient:
    """A client configured from settings (read on every call, so a changed setting applies at once)."""
    return RegistryClient(
        base_url=str(getattr(settings, "DEA_REGISTRY_URL", "") or ""),
        api_key=str(getattr(settings, "DEA_REGISTRY_API_KEY", "") or ""),
        timeout=float(getattr(settings, "DEA_REGISTRY_TIMEOUT_SECONDS", 5.0)),
    )
