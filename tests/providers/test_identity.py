"""Identity proofing on eRx Info: "Verify with ID.me" against the sandbox over real HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlparse

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from idme_sandbox.models import AuthorizationCode, SigningKey
from providers.identity.services import epcs_permissions_url
from providers.models import Provider, User
from tests.conftest import TEST_PASSWORD
from tests.idme_fixtures import IdmeSandboxHandle, clear_idme_client_caches

pytestmark = pytest.mark.django_db(transaction=True)
ERX_INFO = "/account/provider-settings/erx-info/"
CONFIRMED = (
    "Your identity has now been confirmed. To adjust future EPCS permissions, visit the "
    '<a href="{url}">EPCS Permissions Page</a>'
)


@pytest.fixture
def clinician(make_user: Any) -> User:
    """The clinician who is Alice Smith at ID.me too (DEA-20: the identity must be their own)."""
    user = make_user("dr.alice", first_name="Alice", last_name="Smith", email="alice@example.test")
    Provider.objects.create(user=user, display_name="Dr. Alice Smith", npi="1234567893")
    return user


@pytest.fixture
def ehr(clinician: User, idme_sandbox_live: IdmeSandboxHandle) -> Client:
    """The clinician's browser on the EHR, addressed by the live server's host (the
    redirect URI the EHR sends is then one the sandbox has registered)."""
    client = Client(HTTP_HOST=urlparse(idme_sandbox_live.live_url).netloc)
    assert client.login(username=clinician.username, password=TEST_PASSWORD)
    return client


@pytest.fixture
def alice(idme_sandbox_live: IdmeSandboxHandle) -> Any:
    account = idme_sandbox_live.create_account("alice@example.test", fname="Alice", lname="Smith", linked=False)
    idme_sandbox_live.add_totp_device(account, "My iPhone")
    return account


def start(ehr: Client) -> str:
    response = ehr.post("/account/idme/verify/")
    assert response.status_code == 302
    return str(response["Location"])


def callback(ehr: Client, location: str) -> Any:
    parsed = urlparse(location)
    assert parsed.path == "/account/idme/callback/"
    return ehr.get(f"{parsed.path}?{parsed.query}", follow=True)


def provider_of(user: User) -> Provider:
    return Provider.objects.get(user=user)


def last_failure_reason() -> str:
    event = AuditEvent.objects.filter(action="identity.verify_failed").order_by("-id").first()
    assert event is not None, "the failure was not audited"
    return str(event.details["reason"])


def assert_unverified(user: User) -> None:
    provider = provider_of(user)
    assert (provider.idme_uuid, provider.identity_ial, provider.identity_verified_at) == ("", "", None)


@pytest.mark.req("DEA-02")
@pytest.mark.req("ASVS-07")
@pytest.mark.req("ASVS-09")
def test_verify_with_idme_confirms_identity_at_ial2(
    ehr: Client, clinician: User, idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    page = ehr.get(ERX_INFO)
    assert b"Verify with ID.me" in page.content
    authorize_url = start(ehr)
    assert authorize_url.startswith(idme_sandbox_live.base_url + "/oauth/authorize?")
    assert "code_challenge_method=S256" in authorize_url and "nonce=" in authorize_url
    response = callback(ehr, idme_sandbox_live.answer_consent(alice, authorize_url))
    assert response.redirect_chain[-1][0] == ERX_INFO
    html = response.content.decode()
    # The seed's confirmation line, as the flash message and in the Identity Confirmation section.
    assert html.count(CONFIRMED.format(url=epcs_permissions_url())) == 2
    assert "&lt;a" not in html
    assert "Verify with ID.me" not in html
    provider = provider_of(clinician)
    assert provider.idme_uuid == alice.uuid
    assert provider.identity_ial == "ial2" and provider.identity_aal == "aal2"
    assert provider.identity_verified_at is not None and provider.identity_confirmed
    actions = list(AuditEvent.objects.filter(action__startswith="identity.").values_list("action", flat=True))
    assert actions == ["identity.verify_started", "identity.verified"]


@pytest.mark.req("ASVS-09")
def test_denied_consent_changes_nothing(
    ehr: Client, clinician: User, idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    response = callback(ehr, idme_sandbox_live.answer_consent(alice, start(ehr), decision="deny"))
    assert "You chose Deny at ID.me" in response.content.decode()
    assert_unverified(clinician)
    assert last_failure_reason() == "consent_denied"


@pytest.mark.req("DEA-02")
def test_ial1_identity_is_refused(ehr: Client, clinician: User, idme_sandbox_live: IdmeSandboxHandle) -> None:
    bob = idme_sandbox_live.create_account("bob@example.test", fname="Bob", lname="Ial", ial=1, linked=False)
    response = callback(ehr, idme_sandbox_live.answer_consent(bob, start(ehr)))
    assert "only at IAL1" in response.content.decode()
    assert_unverified(clinician)
    assert last_failure_reason() == "ial1"


@pytest.mark.req("ASVS-07")
def test_replayed_callback_is_refused(
    ehr: Client, clinician: User, idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    location = idme_sandbox_live.answer_consent(alice, start(ehr))
    callback(ehr, location)
    before = provider_of(clinician).identity_verified_at
    response = callback(ehr, location)
    assert "does not belong to a verification in progress" in response.content.decode()
    assert provider_of(clinician).identity_verified_at == before
    assert last_failure_reason() == "no_pending_request"


@pytest.mark.req("ASVS-07")
def test_forged_callback_with_wrong_state_is_refused_and_the_real_one_still_works(
    ehr: Client, clinician: User, idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    location = idme_sandbox_live.answer_consent(alice, start(ehr))
    code = location.split("code=")[1].split("&")[0]
    forged = ehr.get(f"/account/idme/callback/?code={code}&state=attacker-state", follow=True)
    assert "does not match the verification you started" in forged.content.decode()
    assert_unverified(clinician)
    assert last_failure_reason() == "state_mismatch"
    assert provider_of(clinician).identity_ial == ""
    callback(ehr, location)
    assert provider_of(clinician).identity_confirmed


@pytest.mark.req("ASVS-07")
def test_expired_code_is_refused(
    ehr: Client, clinician: User, idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    location = idme_sandbox_live.answer_consent(alice, start(ehr))
    AuthorizationCode.objects.update(created_at=timezone.now() - dt.timedelta(minutes=6))
    response = callback(ehr, location)
    assert "has expired or was already used" in response.content.decode()
    assert_unverified(clinician)
    assert last_failure_reason() == "code_rejected"


@pytest.mark.req("ASVS-07")
def test_reused_code_is_refused(
    ehr: Client, clinician: User, make_user: Any, idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    # Another clinician's browser captured a code that was already redeemed.
    location = idme_sandbox_live.answer_consent(alice, start(ehr))
    callback(ehr, location)
    other = make_user("dr.who", first_name="John", last_name="Smith")
    thief = Client(HTTP_HOST=urlparse(idme_sandbox_live.live_url).netloc)
    assert thief.login(username="dr.who", password=TEST_PASSWORD)
    start(thief)
    pending_state = thief.session["idme_pending_authorization"]["state"]
    code = location.split("code=")[1].split("&")[0]
    response = thief.get(f"/account/idme/callback/?code={code}&state={pending_state}", follow=True)
    assert "has expired or was already used" in response.content.decode()
    assert_unverified(other)
    assert last_failure_reason() == "code_rejected"


@pytest.mark.req("ASVS-07")
def test_token_signed_with_an_unpublished_key_is_refused(
    ehr: Client, clinician: User, idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    location = idme_sandbox_live.answer_consent(alice, start(ehr))
    # ID.me signs with a key it does not publish: to the EHR it is a stranger's signature.
    SigningKey.current()
    SigningKey.objects.filter(pk=SigningKey.generate().pk).update(published=False)
    response = callback(ehr, location)
    assert "failed validation" in response.content.decode(), last_failure_reason()
    assert_unverified(clinician)
    assert last_failure_reason() == "token_invalid"


def test_unreachable_idme_at_start_and_at_callback(
    ehr: Client, clinician: User, idme_sandbox_live: IdmeSandboxHandle, alice: Any, settings: Any
) -> None:
    location = idme_sandbox_live.answer_consent(alice, start(ehr))
    settings.IDME_BASE_URL = "http://127.0.0.1:9/idme-sandbox"
    settings.IDME_TIMEOUT_SECONDS = 2
    clear_idme_client_caches()
    response = callback(ehr, location)
    assert "ID.me could not be reached" in response.content.decode()
    assert last_failure_reason() == "unavailable"
    response = ehr.post("/account/idme/verify/", follow=True)
    assert response.redirect_chain[-1][0] == ERX_INFO
    assert "ID.me could not be reached" in response.content.decode()
    assert_unverified(clinician)
    assert AuditEvent.objects.filter(action="identity.verify_failed").count() == 2


def test_an_idme_account_links_to_one_provider_only(
    ehr: Client, clinician: User, make_user: Any, idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    other = make_user("dr.who", first_name="John", last_name="Smith")
    Provider.objects.create(user=other, display_name="Dr. Who", idme_uuid=alice.uuid)
    response = callback(ehr, idme_sandbox_live.answer_consent(alice, start(ehr)))
    assert "already linked to another provider" in response.content.decode()
    assert_unverified(clinician)
    assert last_failure_reason() == "uuid_linked_elsewhere"


@pytest.mark.req("ASVS-08")
def test_verify_needs_post_with_csrf(clinician: User, idme_sandbox_live: IdmeSandboxHandle) -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username=clinician.username, password=TEST_PASSWORD)
    assert browser.get("/account/idme/verify/").status_code == 405
    assert browser.post("/account/idme/verify/").status_code == 403
    assert not AuditEvent.objects.filter(action="identity.verify_started").exists()


def test_identity_section_explains_why_when_not_confirmed(clinician_client: Client) -> None:
    html = clinician_client.get(ERX_INFO).content.decode()
    assert "Identity Confirmation" in html
    assert "identity assurance level 2 (IAL2)" in html
    assert ">Verify with ID.me</button>" in html


def test_callback_needs_an_ehr_sign_in(idme_sandbox_live: IdmeSandboxHandle) -> None:
    response = Client().get("/account/idme/callback/?code=x&state=y")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
