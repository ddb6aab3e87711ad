"""Practice admins register their practice's OAuth apps in the admin, and see only those."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from oauth2_provider.models import get_application_model

from api_access.models import ApplicationPractice
from providers.models import Membership, Practice, PracticeRole, User
from tests.conftest import TEST_PASSWORD

Application = get_application_model()
ADD = "/admin/oauth2_provider/application/add/"


@pytest.fixture
def practice_admin(make_user: Callable[..., User], practice: Practice) -> Client:
    user = make_user("admin.wilson", is_staff=True)
    Membership.objects.create(user=user, practice=practice, role=PracticeRole.PRACTICE_ADMIN)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=["oauth2_provider", "api_access"],
            codename__in=[
                "add_application",
                "change_application",
                "view_application",
                "add_applicationpractice",
                "change_applicationpractice",
                "view_applicationpractice",
            ],
        )
    )
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


def registration(practice: Practice, **fields: Any) -> dict[str, Any]:
    return {
        "client_id": "rx-mobile-client",
        "redirect_uris": "https://rx-mobile.example/callback",
        "post_logout_redirect_uris": "",
        "allowed_origins": "",
        "client_type": Application.CLIENT_PUBLIC,
        "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
        "client_secret": "",
        "name": "Rx Mobile",
        "algorithm": "",
        "practice_link-TOTAL_FORMS": "1",
        "practice_link-INITIAL_FORMS": "0",
        "practice_link-MIN_NUM_FORMS": "1",
        "practice_link-MAX_NUM_FORMS": "1",
        "practice_link-0-practice": str(practice.pk),
        **fields,
    }


@pytest.mark.req("ASVS-11")
def test_a_practice_admin_registers_an_app_of_their_practice_only(practice_admin: Client, practice: Practice) -> None:
    other = Practice.objects.create(name="Mayfield Clinic")
    refused = practice_admin.post(ADD, registration(other))
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert not Application.objects.exists()
    added = practice_admin.post(ADD, registration(practice))
    assert added.status_code == 302, added.content.decode()[:3000]
    app = Application.objects.get()
    assert app.practice_link.practice == practice and not app.skip_authorization


@pytest.mark.req("ASVS-11")
def test_a_practice_admin_sees_only_their_practices_apps(practice_admin: Client, app: Any) -> None:
    other = Practice.objects.create(name="Mayfield Clinic")
    foreign = Application.objects.create(
        name="Mayfield Portal",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://mayfield.example/cb",
    )
    ApplicationPractice.objects.create(application=foreign, practice=other)
    listing = practice_admin.get("/admin/oauth2_provider/application/").content.decode()
    assert "Rx Mobile" in listing and "Mayfield Portal" not in listing
    response = practice_admin.get(f"/admin/oauth2_provider/application/{foreign.pk}/change/")
    assert response.status_code == 302  # "does not exist" for this admin
    assert practice_admin.get(f"/admin/oauth2_provider/application/{app.pk}/change/").status_code == 200
