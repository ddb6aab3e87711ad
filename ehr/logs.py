"""Structured logs: one JSON object per line, a request id from the web request into the
Celery tasks it queues, and no secrets or patient data (docs/operations.md, Logging).

- `RequestIdMiddleware` (first in MIDDLEWARE) takes a well-formed incoming `X-Request-Id`
  or makes one, keeps it (and the request) in context variables for the log records, returns
  it in the `X-Request-Id` response header and logs one line per request.
- `before_task_publish` puts the current request id into the task's message headers;
  `task_prerun` restores it in the worker, so the worker's log lines carry the same id.
- `ContextFilter` adds request id, user id and practice id (when known) to every record;
  `RedactingFilter` replaces the values of known secret or patient-data keys.
- `JsonFormatter` writes time, level, logger, message and those fields as one JSON object.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun
from django.http import HttpRequest, HttpResponse
from django.utils.functional import empty

REQUEST_ID_HEADER = "X-Request-Id"
# The Celery message header that carries the request id to the worker.
TASK_HEADER = "ehr_request_id"
# Accepted from a client or a proxy: letters, digits, dot, dash, underscore, colon; 8-128 long.
# Anything else (a log-injection attempt, a huge value) is replaced by a fresh id.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{8,128}")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("ehr_request_id", default=None)
_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("ehr_request", default=None)
_task: contextvars.ContextVar[str | None] = contextvars.ContextVar("ehr_task", default=None)

REDACTED = "[redacted]"
# Keys whose values never reach a log line, in `extra=`, in a dict argument or nested in one.
SECRET_KEY_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "session",
    "csrf",
    "api_key",
    "apikey",
    "private_key",
    "signing_key",
    "encryption_key",
    "otp",
    "totp",
    "code_verifier",
    "signature",
)
# Whole key names that are secrets in an OAuth / OIDC exchange (as parts they are too common).
SECRET_KEYS = frozenset({"code", "state", "nonce", "key", "pin", "ssn"})
# Patient data: identified by the field names the EHR uses for it.
PATIENT_KEYS = frozenset(
    {
        "patient",
        "patient_name",
        "first_name",
        "last_name",
        "full_name",
        "date_of_birth",
        "birth_date",
        "address",
        "address_line1",
        "address_line2",
        "postal_code",
        "phone",
        "email",
        "directions",
        "medication",
        "diagnosis",
    }
)
# Attributes every LogRecord has: not copied as extra fields.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime", "taskName"}
)
_CONTEXT_FIELDS = ("request_id", "user_id", "practice_id", "task")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(candidate: str | None) -> str:
    """The incoming id when it is well-formed, else a new one."""
    if candidate and _WELL_FORMED.fullmatch(candidate):
        return candidate
    return new_request_id()


def current_request_id() -> str | None:
    return _request_id.get()


@contextmanager
def request_id_context(request_id: str) -> Iterator[str]:
    """Run a block under a request id (what the middleware does for a request; a management
    command or a script can use it too)."""
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


def is_sensitive_key(key: object) -> bool:
    name = str(key).lower()
    return name in PATIENT_KEYS or name in SECRET_KEYS or any(part in name for part in SECRET_KEY_PARTS)


def redact(value: Any, _depth: int = 0) -> Any:
    """A copy of `value` with the values of sensitive keys replaced (dicts, lists, tuples)."""
    if _depth > 5:
        return value
    if isinstance(value, Mapping):
        return {k: REDACTED if is_sensitive_key(k) else redact(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v, _depth + 1) for v in value)
    return value


class RedactingFilter(logging.Filter):
    """Replaces sensitive `extra=` fields and sensitive keys of dict arguments before formatting."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key in list(vars(record)):
            if key in _STANDARD_ATTRIBUTES or key in _CONTEXT_FIELDS:
                continue
            record.__dict__[key] = REDACTED if is_sensitive_key(key) else redact(record.__dict__[key])
        if isinstance(record.args, Mapping):
            record.args = redact(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(redact(arg) for arg in record.args)
        return True


def _user_and_practice(request: HttpRequest | None) -> tuple[int | None, int | None]:
    """Read only what the request already knows: never a database query from a log call."""
    if request is None:
        return None, None
    user_id = None
    user = request.__dict__.get("user")
    wrapped = getattr(user, "_wrapped", user)  # SimpleLazyObject: only when already evaluated
    if user is not None and wrapped is not empty and getattr(wrapped, "is_authenticated", False):
        user_id = getattr(wrapped, "pk", None)
    practice = request.__dict__.get("practice")
    return user_id, getattr(practice, "pk", None)


class ContextFilter(logging.Filter):
    """Adds `request_id`, `user_id`, `practice_id` and `task` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        user_id, practice_id = _user_and_practice(_request.get())
        record.request_id = _request_id.get()
        record.user_id = user_id
        record.practice_id = practice_id
        record.task = _task.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the context
    fields when known, `extra=` fields, and the exception's type and traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and key not in _CONTEXT_FIELDS and key not in entry:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
            entry["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def logging_config(*, level: str, json_lines: bool) -> dict[str, object]:
    """Django's LOGGING: JSON lines (production) or one plain line per record (development);
    both with the context and redaction filters."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "ehr.logs.ContextFilter"},
            "redact": {"()": "ehr.logs.RedactingFilter"},
        },
        "formatters": {
            "json": {"()": "ehr.logs.JsonFormatter"},
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json_lines else "plain",
                "filters": ["context", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # The per-request line below says the same as Django's own 4xx warnings.
        "loggers": {"django.request": {"level": "ERROR"}},
    }


request_logger = logging.getLogger("ehr.request")


class RequestIdMiddleware:
    """First in MIDDLEWARE: the request id for the logs and the response, one line per request.

    The line holds method, path (without the query string, which may carry search terms),
    status and duration; never a body, a header value or a cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accepted_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        id_token = _request_id.set(request_id)
        request_token = _request.set(request)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            request_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
            return response
        finally:
            _request.reset(request_token)
            _request_id.reset(id_token)


# --- Celery: the request id travels in the task message's headers ------------------------
@before_task_publish.connect
def _add_request_id_header(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = _request_id.get()
    if request_id is not None and headers is not None:
        headers[TASK_HEADER] = request_id


_task_tokens: dict[str, tuple[contextvars.Token[str | None], contextvars.Token[str | None]]] = {}


@task_prerun.connect
def _restore_request_id(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    incoming = getattr(getattr(task, "request", None), TASK_HEADER, None)
    request_id = accepted_request_id(incoming) if incoming else new_request_id()
    if task_id is not None:
        _task_tokens[task_id] = (_request_id.set(request_id), _task.set(getattr(task, "name", None)))


@task_postrun.connect
def _forget_request_id(task_id: str | None = None, **_: Any) -> None:
    tokens = _task_tokens.pop(task_id, None) if task_id is not None else None
    if tokens is not None:
        _request_id.reset(tokens[0])
        _task.reset(tokens[1])
