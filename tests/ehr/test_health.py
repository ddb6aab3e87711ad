"""/healthz and /readyz (ehr/health.py, docs/operations.md "Health endpoints")."""

from __future__ import annotations

import socket

import pytest
from django.test import Client, override_settings


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_healthz_answers_without_sign_in_database_or_redirect(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert "X-Request-Id" in response


@override_settings(SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["ehr.example.org"])
def test_health_endpoints_skip_the_https_redirect_and_host_check_for_container_probes(client: Client) -> None:
    """A container's health check calls http://127.0.0.1:8000/healthz from inside."""
    assert client.get("/healthz", HTTP_HOST="127.0.0.1:8000").status_code == 200
    # Everything else is still redirected and host-checked.
    assert client.get("/accounts/login/", HTTP_HOST="127.0.0.1:8000").status_code == 400


@pytest.mark.django_db
def test_readyz_reports_each_dependency_and_idme_without_failing_on_it(client: Client) -> None:
    with override_settings(IDME_BASE_URL=f"http://127.0.0.1:{closed_port()}/idme"):
        response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    checks = body["checks"]
    assert {name: checks[name]["state"] for name in ("database", "cache", "broker", "signing_key")} == {
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
        "signing_key": "ok",
    }
    assert checks["idme"] == {"state": "unreachable", "required": False, "duration_ms": checks["idme"]["duration_ms"]}


@pytest.mark.django_db
def test_readyz_is_503_when_the_signing_key_cannot_be_loaded(client: Client) -> None:
    with override_settings(EPCS_SIGNING_KEY="-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["signing_key"]["state"] == "failing"
    assert "not a key" not in response.content.decode()  # states only, never a value or an error text


@pytest.mark.django_db
def test_readyz_is_503_when_the_cache_is_unreachable(client: Client) -> None:
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    with override_settings(CACHES=unreachable):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["state"] == "failing"


def test_health_endpoints_accept_only_get_and_head(client: Client) -> None:
    response = client.post("/readyz")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert client.head("/healthz").status_code == 200
