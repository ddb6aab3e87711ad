"""Structured production logs (ehr/logs.py, docs/operations.md "Logging"): one JSON object per
line with the request id, user and practice; secrets and patient data redacted; the request id
carried into the Celery tasks a request queues and logged by the real worker process."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from ehr.celery import ping
from ehr.logs import (
    REDACTED,
    REQUEST_ID_HEADER,
    ContextFilter,
    JsonFormatter,
    RedactingFilter,
    current_request_id,
    request_id_context,
)
from providers.models import Practice, User
from tests.conftest import TEST_PASSWORD, start_celery_worker, stop_celery_worker


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The production handler (JSON formatter, context and redaction filters) on the root logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [line for line in stream.getvalue().splitlines() if line]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def request_lines(stream: io.StringIO, path: str) -> list[dict[str, Any]]:
    return [r for r in records(stream) if r["logger"] == "ehr.request" and r.get("path") == path]


@pytest.mark.django_db
def test_each_request_is_one_json_line_with_time_level_logger_and_request_id(
    client: Client, json_lines: io.StringIO
) -> None:
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID="edge-proxy-0001")
    assert response.status_code == 200
    assert response[REQUEST_ID_HEADER] == "edge-proxy-0001"
    [line] = request_lines(json_lines, "/accounts/login/")
    assert {"time", "level", "logger", "message"} <= set(line)
    assert line["time"].endswith("+00:00") and line["level"] == "INFO"
    assert line["request_id"] == "edge-proxy-0001"
    assert line["status"] == 200 and line["method"] == "GET"
    assert "user_id" not in line  # nobody signed in


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["short", "has spaces in it", "x" * 200, "line\nbreak-injected", ""])
def test_a_malformed_incoming_request_id_is_replaced_by_a_fresh_one(
    client: Client, json_lines: io.StringIO, incoming: str
) -> None:
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID=incoming)
    generated = response[REQUEST_ID_HEADER]
    assert generated != incoming and len(generated) == 32
    [line] = request_lines(json_lines, "/accounts/login/")
    assert line["request_id"] == generated


@pytest.mark.django_db
def test_signed_in_lines_carry_the_user_id_and_practice_id(
    clinician: User, practice: Practice, json_lines: io.StringIO
) -> None:
    # The clinician is a prescriber of `practice` only, so they work in it without choosing.
    client = Client()
    assert client.login(username=clinician.username, password=TEST_PASSWORD)
    response = client.get("/account/provider-settings/profile/")
    assert response.status_code == 200
    [line] = request_lines(json_lines, "/account/provider-settings/profile/")
    assert line["user_id"] == clinician.pk
    assert line["practice_id"] == practice.pk
    assert line["request_id"] == response[REQUEST_ID_HEADER]


@pytest.mark.req("ASVS-01")
def test_secrets_and_patient_data_are_redacted_from_extra_fields_and_arguments(json_lines: io.StringIO) -> None:
    log = logging.getLogger("ehr.test")
    log.info(
        "token exchange %s",
        {
            "client_secret": "s3cr3t-value",
            "grant_type": "authorization_code",
            "code": "oidc-code-987",
            "nested": {"password": "hunter2!"},
        },
        extra={
            "api_key": "registry-key-123",
            "Authorization": "Bearer abc.def",
            "patient_name": "Maria Garcia",
            "date_of_birth": "1968-03-14",
            "prescription_id": 42,
        },
    )
    [line] = records(json_lines)
    text = json.dumps(line)
    for secret in (
        "s3cr3t-value",
        "oidc-code-987",
        "hunter2!",
        "registry-key-123",
        "Bearer abc.def",
        "Maria Garcia",
        "1968-03-14",
    ):
        assert secret not in text
    assert line["api_key"] == REDACTED and line["patient_name"] == REDACTED and line["Authorization"] == REDACTED
    assert line["prescription_id"] == 42  # ids are kept: they are how an operator finds a record
    assert "authorization_code" in line["message"]


def test_an_exception_is_logged_with_its_type_and_traceback_in_the_same_line(json_lines: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("ehr.test").exception("failed")
    [line] = records(json_lines)
    assert line["level"] == "ERROR" and line["exception"] == "ValueError"
    assert "Traceback" in line["traceback"]


@pytest.mark.worker
def test_the_request_id_travels_into_a_task_and_the_worker_logs_it_as_json(
    transactional_db: None, tmp_path: Path
) -> None:
    """The real worker process, started with production's JSON log format."""
    log = tmp_path / "worker.log"
    process = start_celery_worker(log, extra_env={"LOG_FORMAT": "json"}, concurrency=1)
    try:
        with request_id_context("req-0123456789abcdef"):
            assert current_request_id() == "req-0123456789abcdef"
            result = ping.delay("traced")
        assert current_request_id() is None
        assert result.get(timeout=60) == "pong:traced"
        deadline = time.monotonic() + 20
        carried: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not carried:
            lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
            carried = [line for line in lines if line.get("request_id") == "req-0123456789abcdef"]
            time.sleep(0.2)
        assert carried, log.read_text()
        assert all(line["task"] == "ehr.ping" for line in carried)
        assert any("succeeded" in line["message"] for line in carried)
    finally:
        stop_celery_worker(process)
