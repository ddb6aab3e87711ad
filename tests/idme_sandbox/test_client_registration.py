"""Registering OIDC clients: Django admin, `idme_register_client`, `seed_idme_sandbox`."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client as HttpClient

from idme_sandbox.models import Client, SigningKey
from providers.models import User


@pytest.fixture
def admin_browser(db: None) -> HttpClient:
    user = User.objects.create_superuser("root", "root@example.test", "Admin-Pass-42")
    browser = HttpClient()
    browser.force_login(user)
    return browser


@pytest.mark.req("ASVS-01")
def test_admin_sets_the_secret_through_a_form_field_and_stores_it_hashed(admin_browser: HttpClient) -> None:
    response = admin_browser.post(
        "/admin/idme_sandbox/client/add/",
        {
            "client_id": "clinic-app",
            "name": "Clinic App",
            "redirect_uris": "https://clinic.example/cb",
            "return_uris": "",
            "scope": "openid epcs",
            "new_secret": "s3cret-value-123",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    client = Client.objects.get(client_id="clinic-app")
    assert "s3cret-value-123" not in client.client_secret_hash
    assert client.check_client_secret("s3cret-value-123") and not client.check_client_secret("other")
    page = admin_browser.get(f"/admin/idme_sandbox/client/{client.pk}/change/").content.decode()
    assert client.client_secret_hash not in page
    # Saving without a new secret keeps the old one.
    response = admin_browser.post(
        f"/admin/idme_sandbox/client/{client.pk}/change/",
        {
            "client_id": "clinic-app",
            "name": "Clinic App 2",
            "redirect_uris": "https://clinic.example/cb",
            "return_uris": "",
            "scope": "openid epcs",
            "new_secret": "",
        },
    )
    assert response.status_code == 302
    client.refresh_from_db()
    assert client.name == "Clinic App 2" and client.check_client_secret("s3cret-value-123")


def test_admin_refuses_a_confidential_client_without_a_secret(admin_browser: HttpClient) -> None:
    response = admin_browser.post(
        "/admin/idme_sandbox/client/add/",
        {"client_id": "x", "name": "X", "redirect_uris": "https://x.example/cb", "scope": "openid", "new_secret": ""},
    )
    assert response.status_code == 200 and "A confidential client needs a secret." in response.content.decode()
    assert not Client.objects.filter(client_id="x").exists()


@pytest.mark.req("ASVS-01")
def test_admin_never_shows_a_private_signing_key(admin_browser: HttpClient) -> None:
    key = SigningKey.current()
    page = admin_browser.get(f"/admin/idme_sandbox/signingkey/{key.pk}/change/").content.decode()
    assert key.kid in page and "PRIVATE KEY" not in page


def test_register_client_command_is_idempotent_and_updates(db: None) -> None:
    args = [
        "--client-id",
        "partner-1",
        "--secret",
        "first-secret",
        "--name",
        "Partner One",
        "--redirect-uri",
        "https://p.example/cb",
        "--return-uri",
        "https://p.example/back",
    ]
    out = StringIO()
    call_command("idme_register_client", *args, stdout=out)
    call_command("idme_register_client", *args, stdout=out)
    assert "Registered client partner-1" in out.getvalue() and "Updated client partner-1" in out.getvalue()
    assert Client.objects.filter(client_id="partner-1").count() == 1
    call_command(
        "idme_register_client",
        "--client-id",
        "partner-1",
        "--secret",
        "second-secret",
        "--name",
        "Partner 1",
        "--redirect-uri",
        "https://p.example/cb",
        "--redirect-uri",
        "https://p.example/cb2",
        stdout=out,
    )
    client = Client.objects.get(client_id="partner-1")
    assert client.name == "Partner 1" and client.redirect_uri_list == ["https://p.example/cb", "https://p.example/cb2"]
    assert client.check_client_secret("second-secret") and not client.check_client_secret("first-secret")
    call_command(
        "idme_register_client",
        "--client-id",
        "spa",
        "--name",
        "SPA",
        "--redirect-uri",
        "https://s/cb",
        "--public",
        stdout=out,
    )
    assert Client.objects.get(client_id="spa").is_public
    with pytest.raises(CommandError, match="needs a secret"):
        call_command("idme_register_client", "--client-id", "nosecret", "--name", "N", "--redirect-uri", "https://n/cb")


def test_seed_registers_the_ehr_client_idempotently(db: None, settings: object) -> None:
    call_command("seed_idme_sandbox", stdout=StringIO())
    call_command("seed_idme_sandbox", stdout=StringIO())
    client = Client.objects.get(client_id="ehr-demo-client")
    assert client.name == "EHR Demo Practice"
    assert client.redirect_uri_list == [
        "http://127.0.0.1:8000/account/idme/callback/",
        "http://localhost:8000/account/idme/callback/",
    ]
    assert client.return_uri_list == [
        "http://127.0.0.1:8000/mfa/devices/returned/",
        "http://localhost:8000/mfa/devices/returned/",
    ]
    assert client.check_client_secret("ehr-demo-client-secret-change-me")
    assert Client.objects.count() == 1


@pytest.mark.req("ASVS-10")
def test_token_endpoint_works_on_a_plain_http_host_and_bad_requests_get_json(db: None, settings: Any) -> None:
    """The sandbox also runs as its own service on an internal http address (not localhost)."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "idme"]
    call_command("seed_idme_sandbox", stdout=StringIO())
    browser = HttpClient(HTTP_HOST="idme:8001")
    response = browser.post(
        "/idme-sandbox/oauth/token",
        {"grant_type": "client_credentials", "scope": "epcs"},
        HTTP_AUTHORIZATION="Basic ZWhyLWRlbW8tY2xpZW50OmVoci1kZW1vLWNsaWVudC1zZWNyZXQtY2hhbmdlLW1l",
    )
    assert response.status_code == 200, response.content
    for query in (
        "",
        "?client_id=ehr-demo-client",
        "?client_id=a&client_id=b&response_type=code",
        "?client_id=ehr-demo-client&response_type=code&redirect_uri=https://evil.example/cb",
    ):
        response = browser.get("/idme-sandbox/oauth/authorize" + query)
        assert response.status_code == 400, query
        assert response.json()["error"] and response.json()["error_description"]
    for authorization in ("Basic !!!", "Basic Zm9v"):
        response = browser.post(
            "/idme-sandbox/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=authorization
        )
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
