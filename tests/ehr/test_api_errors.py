"""The REST API's errors and limits (docs/api.md, "Errors" and "Limits").

Every 4xx and 5xx under /api/ is an RFC 9457 problem (`application/problem+json`), whether
DRF or Django answers it (ASVS-10); an unknown field is refused, not ignored (ASVS-10); rate
limits per user, per token and stricter on two-factor steps answer 429 with Retry-After
(ASVS-02); the schema documents all of it for every operation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client, RequestFactory

from api_access.services import create_token
from ehr.api import csrf_failure
from eprescribe.models import Prescription
from providers.models import Practice, User
from tests.conftest import TEST_PASSWORD, join

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == PROBLEM
    body: dict[str, Any] = json.loads(response.content)
    assert body["type"] == "about:blank" and body["status"] == status and body["title"]
    assert body["code"] == code and isinstance(body["detail"], str) and body["detail"]
    return body


def post_json(client: Client, path: str, body: Any, **extra: Any) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json", **extra)


@pytest.mark.req("ASVS-10")
def test_django_and_drf_errors_under_the_api_are_problems(clinician_client: Client) -> None:
    assert_problem(clinician_client.get("/api/v1/no-such-endpoint/"), 404, "not_found")
    not_allowed = assert_problem(clinician_client.delete("/api/v1/providers/me/"), 405, "method_not_allowed")
    assert "DELETE" in not_allowed["detail"]
    assert clinician_client.delete("/api/v1/providers/me/")["Allow"]
    assert_problem(clinician_client.get("/api/v1/providers/me/", HTTP_ACCEPT="application/xml"), 406, "not_acceptable")
    assert_problem(
        clinician_client.post("/api/v1/prescriptions/", "quantity=1", content_type="text/plain"),
        415,
        "unsupported_media_type",
    )
    # No credentials: 401 with WWW-Authenticate (the token authenticator is asked first).
    anonymous = Client().get("/api/v1/providers/me/")
    assert_problem(anonymous, 401, "not_authenticated")
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    # Outside the API, Django's own pages stay.
    page = clinician_client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


@pytest.mark.req("ASVS-10")
def test_a_session_call_without_its_csrf_token_is_a_problem(clinician: User) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=clinician.username, password=TEST_PASSWORD)
    body = assert_problem(post_json(client, "/api/v1/prescriptions/", {}), 403, "permission_denied")
    assert "CSRF" in body["detail"]
    assert not Prescription.objects.exists()
    # Django's own CSRF check (for any view under /api/ that is not DRF's) answers the same way.
    request = RequestFactory().post("/api/v1/anything/")
    assert_problem(csrf_failure(request, reason="CSRF cookie not set."), 403, "csrf_failed")
    page = csrf_failure(RequestFactory().post("/accounts/login/"), reason="CSRF cookie not set.")
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


@pytest.mark.req("ASVS-10")
def test_a_server_error_under_the_api_is_a_problem(clinician: User, monkeypatch: pytest.MonkeyPatch) -> None:
    # No API path fails today; a fault is injected to see what a client would get if one did.
    def broken(request: Any) -> Any:
        raise RuntimeError("injected fault")

    monkeypatch.setattr("providers.api.services.current_provider", broken)
    client = Client(raise_request_exception=False)
    assert client.login(username=clinician.username, password=TEST_PASSWORD)
    body = assert_problem(client.get("/api/v1/providers/me/"), 500, "server_error")
    assert "injected" not in body["detail"]


@pytest.mark.req("ASVS-10")
def test_an_unknown_field_is_refused_not_ignored(clinician_client: Client) -> None:
    body = assert_problem(
        post_json(clinician_client, "/api/v1/prescriptions/", {"quantity": 5, "signed_at": "2026-01-01"}),
        400,
        "invalid",
    )
    assert {"attr": "signed_at", "code": "unknown_field"} in [
        {"attr": error["attr"], "code": error["code"]} for error in body["errors"]
    ]
    assert not Prescription.objects.exists()
    body = assert_problem(
        post_json(clinician_client, "/api/v1/mfa/devices/1/primary/", {"pasword": TEST_PASSWORD}), 400, "invalid"
    )
    assert [(error["attr"], error["code"]) for error in body["errors"]] == [("pasword", "unknown_field")]


@pytest.mark.req("ASVS-10")
def test_the_schema_documents_every_error_and_refuses_unknown_fields(clinician_client: Client) -> None:
    schema = json.loads(clinician_client.get("/api/v1/schema/?format=json").content)
    problem = {"$ref": "#/components/schemas/Problem"}
    assert {"type", "title", "status", "detail", "code"} <= set(schema["components"]["schemas"]["Problem"]["required"])
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) >= 15
    for path, method, operation in operations:
        responses = operation["responses"]
        expected = {"400", "401", "403", "404", "406", "429", "500"}
        if "requestBody" in operation:
            expected |= {"413", "415"}
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
            assert component["additionalProperties"] is False, (path, method, ref)
        assert expected <= set(responses), (path, method, expected - set(responses))
        for code, response in responses.items():
            if code[0] in "45":
                assert response["content"] == {PROBLEM: {"schema": problem}}, (path, method, code)
        assert responses["429"]["headers"]["Retry-After"]["required"] is True
    device = schema["components"]["schemas"]["Device"]
    assert "display_name" in device["required"]


def _rates(settings: Any, **rates: str) -> None:
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, **rates}


def assert_throttled(response: Any) -> None:
    assert_problem(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


@pytest.mark.req("ASVS-02")
def test_each_user_has_a_rate_limit(
    clinician_client: Client, make_user: Any, settings: Any, practice: Practice
) -> None:
    _rates(settings, user="3/minute")
    for _ in range(3):
        assert clinician_client.get("/api/v1/providers/me/").status_code == 200
    assert_throttled(clinician_client.get("/api/v1/providers/me/"))
    assert_throttled(clinician_client.get("/api/v1/prescriptions/"))  # every endpoint counts
    other = join(make_user("dr.cuddy"), practice)
    other_client = Client()
    assert other_client.login(username=other.username, password=TEST_PASSWORD)
    assert other_client.get("/api/v1/prescriptions/").status_code == 200


@pytest.mark.req("ASVS-02")
def test_each_token_has_a_rate_limit(clinician: User, settings: Any) -> None:
    _rates(settings, token="2/minute", user="100/minute")
    first = create_token(clinician, name="script", scopes=["profile:read"])
    client = Client()
    bearer = f"Bearer {first.secret}"
    for _ in range(2):
        assert client.get("/api/v1/providers/me/", HTTP_AUTHORIZATION=bearer).status_code == 200
    assert_throttled(client.get("/api/v1/providers/me/", HTTP_AUTHORIZATION=bearer))
    # Another token of the same person has its own count.
    second = create_token(clinician, name="other script", scopes=["profile:read"])
    assert client.get("/api/v1/providers/me/", HTTP_AUTHORIZATION=f"Bearer {second.secret}").status_code == 200
    # The user's session is not that token.
    assert client.login(username=clinician.username, password=TEST_PASSWORD)
    assert client.get("/api/v1/providers/me/").status_code == 200


@pytest.mark.req("ASVS-02")
def test_two_factor_steps_have_a_stricter_limit(clinician_client: Client, settings: Any) -> None:
    _rates(settings, sensitive="2/minute", user="100/minute")
    code_url = "/api/v1/epcs/requests/999/approval/00000000-0000-0000-0000-000000000000/code/"
    for _ in range(2):
        assert_problem(post_json(clinician_client, code_url, {"code": "123456"}), 404, "not_found")
    assert_throttled(post_json(clinician_client, code_url, {"code": "123456"}))
    assert_throttled(post_json(clinician_client, "/api/v1/epcs/requests/999/approval/", {"device_id": 1}))
    assert_throttled(post_json(clinician_client, "/api/v1/epcs/requests/999/reject/", {"device_id": 1}))
    # Other calls of the same user go on under the ordinary limit.
    assert clinician_client.get("/api/v1/providers/me/").status_code == 200
