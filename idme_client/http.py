"""One HTTP session per process for every ID.me call: timeouts, retries, error mapping."""

from __future__ import annotations

import datetime as dt
import threading
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from idme_client.errors import IdmeNotFound, IdmeRateLimited, IdmeRejected, IdmeUnavailable

_local = threading.local()
# Retries only for idempotent methods (GET/HEAD/OPTIONS); a POST is never sent twice.
_RETRY = Retry(
    total=2,
    connect=2,
    read=1,
    backoff_factor=0.2,
    status_forcelist=(502, 503, 504),
    allowed_methods=frozenset({"GET", "HEAD", "OPTIONS"}),
    raise_on_status=False,
)


def session() -> requests.Session:
    """The process's session (one per thread: requests sessions are not thread-safe)."""
    current: requests.Session | None = getattr(_local, "session", None)
    if current is None:
        current = requests.Session()
        adapter = HTTPAdapter(max_retries=_RETRY, pool_connections=4, pool_maxsize=16)
        current.mount("http://", adapter)
        current.mount("https://", adapter)
        current.headers["User-Agent"] = "ehr-idme-client/1.0"
        _local.session = current
    return current


def base_url() -> str:
    return str(settings.IDME_BASE_URL).rstrip("/")


def request_json(method: str, path_or_url: str, **kwargs: Any) -> Any:
    """Send a request to ID.me and return the decoded JSON body, or raise an IdmeError."""
    url = path_or_url if path_or_url.startswith(("http://", "https://")) else base_url() + path_or_url
    kwargs.setdefault("timeout", settings.IDME_TIMEOUT_SECONDS)
    try:
        response = session().request(method, url, **kwargs)
    except requests.RequestException as exc:
        raise IdmeUnavailable(f"ID.me could not be reached ({type(exc).__name__}).") from exc
    return decode_response(response)


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def decode_response(response: requests.Response) -> Any:
    if response.status_code >= 500:
        raise IdmeUnavailable(f"ID.me answered with a server error ({response.status_code}).")
    try:
        body = response.json() if response.content else {}
    except ValueError as exc:
        raise IdmeUnavailable("ID.me answered with something that is not JSON.") from exc
    if response.status_code < 400:
        return body
    code = str(body.get("error", "rejected")) if isinstance(body, dict) else "rejected"
    description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    message = f"ID.me refused the request: {code}" + (f" ({description})" if description else "")
    if response.status_code == 429:
        raise IdmeRateLimited(message, retry_after=_retry_after_seconds(response.headers.get("Retry-After")))
    if response.status_code == 404:
        raise IdmeNotFound(message, code=code, status=404)
    raise IdmeRejected(message, code=code, status=response.status_code)
