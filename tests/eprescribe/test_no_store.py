"""Pages and API responses that show patient data are never stored by a browser or proxy (ASVS-08)."""

from __future__ import annotations

import pytest
from django.test import Client

from providers.models import User
from tests.eprescribe.conftest import RxWorld, client_for

pytestmark = pytest.mark.django_db


def directives(response: object) -> set[str]:
    header = response["Cache-Control"]  # type: ignore[index]
    return {part.strip().split("=")[0] for part in header.split(",")}


@pytest.mark.req("ASVS-08")
def test_patient_pages_and_api_responses_say_no_store(rx: RxWorld, clinician: User) -> None:
    draft = rx.draft()
    client = client_for(clinician)
    for path in ("/eprescribe/", f"/eprescribe/{draft.pk}/"):
        page = client.get(path)
        assert page.status_code == 200 and rx.patient.last_name.encode() in page.content
        assert "no-store" in directives(page), path
    for path in ("/api/v1/prescriptions/", f"/api/v1/prescriptions/{draft.pk}/"):
        api = client.get(path)
        assert api.status_code == 200 and rx.patient.last_name in api.content.decode()
        assert "no-store" in directives(api), path


@pytest.mark.req("ASVS-08")
def test_sign_in_and_error_responses_are_no_store_too(rx: RxWorld) -> None:
    anonymous = Client()
    for path in ("/accounts/login/", "/api/v1/prescriptions/", "/eprescribe/999999/"):
        assert "no-store" in directives(anonymous.get(path)), path
