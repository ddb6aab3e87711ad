"""A password change and "Sign out all other sessions" end every API credential of the person
(personal tokens and OAuth tokens) unless they tick "Keep my API tokens" (docs/api.md
"Revocation"); plain DRF tokens are gone; an MFA change through a token still needs that
person's own password (ASVS-05, ASVS-12)."""

from __future__ import annotations

import importlib
import json
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client

from api_access import services
from api_access.models import PersonalAccessToken
from audit.models import AuditEvent
from mfa.models import ProviderDevice
from providers.models import Provider, User
from tests.api_access.conftest import DEVICES, bearer, oauth_tokens
from tests.conftest import TEST_PASSWORD, login_through_form

SECURITY = "/account/provider-settings/security/"
NEW_PASSWORD = "Another-Horse-77"


def signed_in(user: User) -> Client:
    browser = Client()
    assert login_through_form(browser, user.username).status_code == 302
    return browser


def change_password(browser: Client, **extra: str) -> Any:
    return browser.post(
        SECURITY,
        {
            "action": "change_password",
            "old_password": TEST_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
            **extra,
        },
    )


def credentials_of(user: User, app: Any) -> tuple[Client, Client]:
    """A personal token and an OAuth token of `user`, both working."""
    personal = bearer(services.create_token(user, name="script", scopes=["mfa:read"]).secret)
    oauth = bearer(oauth_tokens(signed_in(user), app, "mfa:read").access)
    assert personal.get(DEVICES).status_code == 200 and oauth.get(DEVICES).status_code == 200
    return personal, oauth


@pytest.mark.req("ASVS-12")
def test_a_password_change_ends_every_api_token(member: User, app: Any) -> None:
    personal, oauth = credentials_of(member, app)
    browser = signed_in(member)
    assert change_password(browser).status_code == 302
    assert personal.get(DEVICES).status_code == 401
    assert oauth.get(DEVICES).status_code == 401
    assert PersonalAccessToken.objects.get().revoked_reason == "password_changed"
    ended = AuditEvent.objects.get(action="api.credentials_ended")
    assert ended.details["personal_tokens"] == 1 and ended.details["oauth_tokens"] >= 1
    # The Security tab lists none; the session that changed the password goes on.
    assert 'name="keep_api_tokens"' in browser.get(SECURITY).content.decode()
    assert browser.get(DEVICES).status_code == 200


@pytest.mark.req("ASVS-12")
def test_signing_out_all_other_sessions_ends_every_api_token(member: User, app: Any) -> None:
    personal, oauth = credentials_of(member, app)
    browser = signed_in(member)
    assert browser.post(SECURITY, {"action": "sign_out_other_sessions"}).status_code == 302
    assert personal.get(DEVICES).status_code == 401
    assert oauth.get(DEVICES).status_code == 401


@pytest.mark.req("ASVS-12")
def test_the_keep_box_keeps_them(member: User, app: Any) -> None:
    personal, oauth = credentials_of(member, app)
    browser = signed_in(member)
    assert change_password(browser, keep_api_tokens="on").status_code == 302
    assert browser.post(SECURITY, {"action": "sign_out_other_sessions", "keep_api_tokens": "on"}).status_code == 302
    assert personal.get(DEVICES).status_code == 200
    assert oauth.get(DEVICES).status_code == 200
    assert not AuditEvent.objects.filter(action="api.credentials_ended").exists()
    changed = AuditEvent.objects.get(action="auth.password_changed")
    assert changed.details == {"kept_api_tokens": True}


def test_another_persons_password_change_leaves_my_tokens(member: User, make_user: Any) -> None:
    mine = bearer(services.create_token(member, name="mine", scopes=["mfa:read"]).secret)
    other = make_user("dr.cuddy")
    assert change_password(signed_in(other)).status_code == 302
    assert mine.get(DEVICES).status_code == 200


@pytest.mark.req("ASVS-05")
@pytest.mark.req("ASVS-12")
def test_an_mfa_change_through_an_oauth_token_needs_the_holders_own_password(
    member: User, app: Any, make_user: Any
) -> None:
    provider = Provider.objects.get(user=member)
    device = ProviderDevice.objects.create(
        provider=provider, idme_device_id="dev-house", name="iPhone", kind="totp", added_at=provider.user.date_joined
    )
    token = oauth_tokens(signed_in(member), app, "mfa:read mfa:write").access
    # Another person's fresh sign-in in the same browser does not count for the token's holder.
    attacker = make_user("dr.cuddy")
    browser = signed_in(attacker)
    url = f"{DEVICES}{device.pk}/primary/"
    header: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    response = browser.post(url, "{}", content_type="application/json", **header)
    assert response.status_code == 403 and response.json()["code"] == "reauthentication_required"
    wrong = browser.post(url, json.dumps({"password": TEST_PASSWORD + "x"}), content_type="application/json", **header)
    assert wrong.status_code == 403
    right = browser.post(url, json.dumps({"password": TEST_PASSWORD}), content_type="application/json", **header)
    assert right.status_code == 200 and right.json()["is_primary"] is True


@pytest.mark.req("ASVS-12")
def test_the_migration_revokes_every_plain_drf_token(clinician: User) -> None:
    """A database that had rest_framework.authtoken: its tokens and table go away."""
    with connection.cursor() as cursor:
        cursor.execute('CREATE TABLE "authtoken_token" ("key" varchar(40) PRIMARY KEY, "user_id" integer)')
        cursor.execute('INSERT INTO "authtoken_token" VALUES (%s, %s)', ["0123456789abcdef" * 2 + "01234567", 1])
    ContentType.objects.create(app_label="authtoken", model="token")
    migration = importlib.import_module("api_access.migrations.0002_revoke_plain_drf_tokens")
    # The step uses only the editor's connection (SQLite's editor cannot open inside the test's transaction).
    migration.revoke_plain_tokens(apps, SimpleNamespace(connection=connection))
    assert "authtoken_token" not in connection.introspection.table_names()
    assert not ContentType.objects.filter(app_label="authtoken").exists()
    # A plain token header is no longer a way in.
    assert Client(HTTP_AUTHORIZATION="Token " + "0123456789abcdef" * 2).get(DEVICES).status_code == 401
