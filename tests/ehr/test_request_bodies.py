"""Request bodies that are not JSON, nested too deeply or too large (ASVS-10): a 4xx with a
JSON error body (an RFC 9457 problem on the REST API), never a 500, never an HTML page for an
API, and nothing changes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from common import jsonbody
from eprescribe.models import Prescription
from idme_sandbox.models import Device, PharmacyNetworkMode

pytestmark = pytest.mark.django_db

DEEP_ARRAY = "[" * 1500 + "]" * 1500
DEEP_OBJECT = '{"a":' * 1500 + "1" + "}" * 1500
BAD_BODIES: list[str | bytes] = [
    DEEP_ARRAY,
    DEEP_OBJECT,
    "[" * 100_000,
    "{",
    "not json",
    b"\xff\xfe\x00garbage",
    "NaN",
    '{"a": Infinity}',
]

# DRF endpoints that read a body, and the sandbox's plain Django JSON views.
DRF_ENDPOINTS = ["/api/v1/prescriptions/", "/api/v1/mfa/devices/1/primary/"]
SANDBOX_ENDPOINTS = [
    "/idme-sandbox/pharmacy-network/failure-mode",
    "/idme-sandbox/authenticator/api/pair",
    "/idme-sandbox/authenticator/api/pending",
    "/idme-sandbox/authenticator/api/answer",
]


def post_raw(client: Client, path: str, body: str | bytes, **extra: Any) -> Any:
    return client.generic("POST", path, body, content_type="application/json", **extra)


def assert_json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body["error"], str) and body["error"]
    return body


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The REST API's error body: RFC 9457 problem details with the stable `code` (docs/api.md)."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == "about:blank" and body["status"] == status and body["title"]
    assert body["code"] == code and isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.req("ASVS-10")
def test_the_shared_reader_turns_every_bad_document_into_one_error() -> None:
    for raw in BAD_BODIES:
        with pytest.raises(jsonbody.InvalidJSON):
            jsonbody.loads(raw)
    assert jsonbody.loads(b'{"a": [1, 2.5, "x", null]}') == {"a": [1, 2.5, "x", None]}


@pytest.mark.req("ASVS-10")
def test_deeply_nested_and_malformed_json_is_400_on_the_rest_api(clinician_client: Client) -> None:
    for path in DRF_ENDPOINTS:
        for raw in BAD_BODIES:
            assert_problem(post_raw(clinician_client, path, raw), 400, "parse_error")
    assert not Prescription.objects.exists()


@pytest.mark.req("ASVS-10")
def test_deeply_nested_and_malformed_json_is_400_on_the_sandbox_json_views(db: None) -> None:
    client = Client()
    for path in SANDBOX_ENDPOINTS:
        for raw in BAD_BODIES:
            body = assert_json_error(post_raw(client, path, raw), 400)
            assert body["error"] in {"invalid", "invalid_json", "invalid_request"}
    assert not PharmacyNetworkMode.objects.filter(failing=True).exists()
    assert not Device.objects.exists()


@pytest.mark.req("ASVS-10")
def test_an_over_limit_body_is_413_json_on_api_and_json_paths(clinician_client: Client) -> None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    huge = json.dumps({"directions": "x" * (limit + 1)})
    for path in DRF_ENDPOINTS:
        body = assert_problem(post_raw(clinician_client, path, huge), 413, "request_too_large")
        assert str(limit) in body["detail"]
    for path in [*SANDBOX_ENDPOINTS, "/idme-sandbox/api/public/v3/epcs/push/statuses"]:
        body = assert_json_error(post_raw(clinician_client, path, huge), 413)
        assert body["error"] == "request_too_large" and str(limit) in body["error_description"]
    # A client that does not ask for HTML gets JSON, whatever it sent.
    form = clinician_client.post("/eprescribe/new/", {"directions": "x" * (limit + 1)})
    assert_json_error(form, 413)
    assert not Prescription.objects.exists()


@pytest.mark.req("ASVS-10")
def test_an_over_limit_form_from_a_browser_is_a_plain_413_page(client: Client) -> None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = client.post(
        "/accounts/login/",
        {"username": "dr.house", "password": "x" * (limit + 1)},
        HTTP_ACCEPT="text/html,application/xhtml+xml",
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"Request too large" in response.content
