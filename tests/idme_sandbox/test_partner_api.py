"""The sandbox's EPCS partner API from an attacker's side, over raw HTTP (docs/idme-api.md).

Bad tokens get 401/403 JSON; bad input gets a 4xx JSON body and changes nothing (ASVS-10);
users who did not link the client and other clients' transactions are invisible; every
decision is recorded as a PartnerDecision.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.test import Client as HttpClient
from django.utils import timezone

from idme_sandbox import authenticators
from idme_sandbox.models import (
    Account,
    Client,
    Consent,
    Device,
    DeviceKind,
    PartnerDecision,
    PushStatus,
    PushTransaction,
    Token,
)
from idme_sandbox.oidc.clients import register_client
from idme_sandbox.oidc.tokens import new_secret_value, store_token

API = "/idme-sandbox/api/public/v3/epcs"
PARTNER_SECRET = "partner-secret-for-tests-0123456789"
OTHER_SECRET = "other-partner-secret-0123456789"


@dataclass
class Partner:
    client: Client
    secret: str


@dataclass
class Linked:
    account: Account
    totp: Device
    push: Device
    phone_key: Ed25519PrivateKey


def make_partner(client_id: str, secret: str) -> Partner:
    client, _ = register_client(
        client_id=client_id, name=f"Partner {client_id}", redirect_uris=["https://ehr.example.test/cb"], secret=secret
    )
    return Partner(client=client, secret=secret)


def make_account(email: str, *, linked_to: Client | None) -> Linked:
    account = Account(email=email, fname="Pat", lname="Doe", ial=2)
    account.set_password("Sandbox-Pass-2026")
    account.save()
    if linked_to is not None:
        Consent.objects.create(account=account, client=linked_to, scope="openid epcs")
    key = Ed25519PrivateKey.generate()
    raw_public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    totp = Device.objects.create(
        account=account, kind=DeviceKind.TOTP, name="Office phone", totp_secret=authenticators.new_totp_secret()
    )
    push = Device.objects.create(
        account=account, kind=DeviceKind.PUSH, name="", public_key=authenticators.encode_b64url(raw_public)
    )
    Device.objects.create(account=account, kind=DeviceKind.SMS, phone="+15555550100")
    return Linked(account=account, totp=totp, push=push, phone_key=key)


def issue_token(partner: Partner, scope: str = "epcs") -> str:
    """A client-credentials access token as the token endpoint stores it (the endpoint has its own tests)."""
    raw = new_secret_value()
    store_token(client=partner.client, account=None, scope=scope, access_token=raw, refresh_token=None)
    return raw


@pytest.fixture
def http() -> HttpClient:
    # CSRF checks on: a bearer API must not depend on the CSRF exemption of the test client.
    return HttpClient(enforce_csrf_checks=True)


@pytest.fixture
def partner(db: None) -> Partner:
    return make_partner("ehr-partner", PARTNER_SECRET)


@pytest.fixture
def other_partner(db: None) -> Partner:
    return make_partner("other-partner", OTHER_SECRET)


@pytest.fixture
def linked(partner: Partner) -> Linked:
    return make_account("linked@example.test", linked_to=partner.client)


@pytest.fixture
def token(partner: Partner) -> str:
    return issue_token(partner)


@pytest.fixture
def call(http: HttpClient, token: str) -> Callable[..., Any]:
    """Send a request with the partner's token; `body` may be a dict (sent as JSON) or raw bytes/str."""

    def send(method: str, path: str, body: Any = None, *, bearer: str | None = token, **extra: Any) -> Any:
        headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {bearer}"} if bearer is not None else {}
        headers.update(extra)
        data = body if isinstance(body, bytes | str) else (json.dumps(body) if body is not None else "")
        return http.generic(method, f"{API}{path}", data, content_type="application/json", **headers)

    return send


def assert_json_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["error_description"], str) and body["error_description"]
    return body


def current_code(device: Device, offset_steps: int = 0) -> str:
    totp = pyotp.TOTP(device.totp_secret)
    return totp.at(timezone.now() + dt.timedelta(seconds=30 * offset_steps))


def wrong_code(device: Device) -> str:
    near = {current_code(device, k) for k in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)


def endpoints(linked: Linked) -> list[tuple[str, str, Any]]:
    uuid = linked.account.uuid
    return [
        ("GET", f"/users/{uuid}/devices", None),
        ("POST", f"/users/{uuid}/totp/verify", {"device_id": linked.totp.device_id, "code": "123456"}),
        ("POST", f"/users/{uuid}/push", {"device_id": linked.push.device_id, "title": "Sign", "message": "x"}),
        ("GET", "/push/0123456789abcdef0123456789abcdef", None),
        ("POST", "/push/statuses", {"txids": ["0123456789abcdef0123456789abcdef"]}),
        ("POST", "/push/0123456789abcdef0123456789abcdef/cancel", None),
    ]


def nothing_changed() -> None:
    assert not PushTransaction.objects.exists()
    assert not PartnerDecision.objects.exists()
    assert not Device.objects.filter(failed_attempts__gt=0).exists()
    assert not Device.objects.filter(last_totp_step__isnull=False).exists()


# --- tokens ----------------------------------------------------------------------
@pytest.mark.req("ASVS-06")
def test_every_endpoint_without_a_token_is_401_json(call: Callable[..., Any], linked: Linked) -> None:
    for method, path, body in endpoints(linked):
        response = call(method, path, body, bearer=None)
        assert_json_error(response, 401, "invalid_token")
        assert response["WWW-Authenticate"].startswith("Bearer")
    nothing_changed()


@pytest.mark.req("ASVS-06")
def test_unknown_expired_and_revoked_tokens_are_401(call: Callable[..., Any], linked: Linked, partner: Partner) -> None:
    expired_raw, revoked_raw = new_secret_value(), new_secret_value()
    expired = store_token(
        client=partner.client, account=None, scope="epcs", access_token=expired_raw, refresh_token=None
    )
    Token.objects.filter(pk=expired.pk).update(access_expires_at=timezone.now() - dt.timedelta(seconds=1))
    revoked = store_token(
        client=partner.client, account=None, scope="epcs", access_token=revoked_raw, refresh_token=None
    )
    Token.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    for bearer in ("not-a-token", expired_raw, revoked_raw, ""):
        for method, path, body in endpoints(linked):
            response = call(method, path, body, bearer=bearer)
            assert_json_error(response, 401, "invalid_token")
            assert "Bearer" in response["WWW-Authenticate"]
    nothing_changed()


@pytest.mark.req("ASVS-06")
def test_a_token_without_the_epcs_scope_is_403(call: Callable[..., Any], linked: Linked, partner: Partner) -> None:
    raw = new_secret_value()
    store_token(client=partner.client, account=linked.account, scope="openid", access_token=raw, refresh_token=None)
    for method, path, body in endpoints(linked):
        response = call(method, path, body, bearer=raw)
        assert_json_error(response, 403, "insufficient_scope")
        assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    nothing_changed()


@pytest.mark.req("ASVS-06")
def test_only_client_credentials_tokens_of_confidential_clients_are_partner_tokens(
    call: Callable[..., Any], linked: Linked, partner: Partner
) -> None:
    # A token a person granted in the code flow, even with the epcs scope, acts for that person only.
    user_raw = new_secret_value()
    store_token(
        client=partner.client, account=linked.account, scope="openid epcs", access_token=user_raw, refresh_token=None
    )
    public, _ = register_client(
        client_id="mobile-app", name="Mobile app", redirect_uris=["https://app.example.test/cb"], public=True
    )
    public_raw = issue_token(Partner(client=public, secret=""))
    Consent.objects.create(account=linked.account, client=public, scope="openid epcs")
    for bearer in (user_raw, public_raw):
        for method, path, body in endpoints(linked):
            assert_json_error(call(method, path, body, bearer=bearer), 403, "insufficient_scope")
    nothing_changed()


def test_basic_authentication_is_not_a_bearer_token(http: HttpClient, linked: Linked) -> None:
    response = http.get(
        f"{API}/users/{linked.account.uuid}/devices", HTTP_AUTHORIZATION="Basic ZWhyLXBhcnRuZXI6c2VjcmV0"
    )
    assert_json_error(response, 401, "invalid_token")


# --- who can be reached ------------------------------------------------------------
def test_devices_lists_code_generators_and_push_devices_only(call: Callable[..., Any], linked: Linked) -> None:
    response = call("GET", f"/users/{linked.account.uuid}/devices")
    assert response.status_code == 200
    devices = response.json()["devices"]
    assert [(d["id"], d["type"]) for d in devices] == [(linked.totp.device_id, "totp"), (linked.push.device_id, "push")]
    assert devices[0]["name"] == "Office phone"
    assert devices[1]["name"] == "Push Notification"  # no name given: the method's name
    assert dt.datetime.fromisoformat(devices[0]["added_at"]) == linked.totp.added_at
    assert devices[0]["last_used_at"] is None


@pytest.mark.req("ASVS-06")
def test_unlinked_and_unknown_users_look_the_same(
    call: Callable[..., Any], partner: Partner, other_partner: Partner
) -> None:
    stranger = make_account("stranger@example.test", linked_to=None)
    elsewhere = make_account("elsewhere@example.test", linked_to=other_partner.client)
    missing = "0" * 32
    bodies = []
    for uuid in (stranger.account.uuid, elsewhere.account.uuid, missing, "x" * 500, "%00", "..%2F..%2Fadmin"):
        for method, path, body in (
            ("GET", f"/users/{uuid}/devices", None),
            ("POST", f"/users/{uuid}/totp/verify", {"device_id": stranger.totp.device_id, "code": "123456"}),
            ("POST", f"/users/{uuid}/push", {"device_id": stranger.push.device_id, "title": "Sign", "message": ""}),
        ):
            response = call(method, path, body)
            if response.status_code == 404 and response.json()["error"] == "not_found":
                continue  # a path that is not an API path at all (e.g. the encoded slash)
            bodies.append(assert_json_error(response, 404, "user_not_found"))
    assert len({json.dumps(b, sort_keys=True) for b in bodies}) == 1
    nothing_changed()


@pytest.mark.req("ASVS-06")
def test_unknown_or_wrong_kind_devices_are_404_and_recorded(call: Callable[..., Any], linked: Linked) -> None:
    uuid = linked.account.uuid
    other = make_account("other@example.test", linked_to=None)
    verify_cases = ["f" * 32, linked.push.device_id, other.totp.device_id, "bad id with spaces", "é" * 10]
    for device_id in verify_cases:
        response = call(
            "POST", f"/users/{uuid}/totp/verify", {"device_id": device_id, "code": current_code(linked.totp)}
        )
        assert_json_error(response, 404, "device_not_found")
    for device_id in ["f" * 32, linked.totp.device_id, other.push.device_id]:
        response = call("POST", f"/users/{uuid}/push", {"device_id": device_id, "title": "Sign", "message": ""})
        assert_json_error(response, 404, "device_not_found")
    assert not PushTransaction.objects.exists()
    other.totp.refresh_from_db()
    assert other.totp.last_totp_step is None
    decisions = PartnerDecision.objects.filter(account=linked.account)
    assert decisions.count() == len(verify_cases) + 3
    assert set(decisions.values_list("decision", "reason")) == {("deny", "device_not_found")}


@pytest.mark.req("ASVS-06")
def test_another_clients_transaction_is_invisible_and_uncancellable(
    call: Callable[..., Any], partner: Partner, other_partner: Partner, linked: Linked
) -> None:
    Consent.objects.create(account=linked.account, client=other_partner.client, scope="openid epcs")
    other_token = issue_token(other_partner)
    created = call(
        "POST",
        f"/users/{linked.account.uuid}/push",
        {"device_id": linked.push.device_id, "title": "Other app", "message": ""},
        bearer=other_token,
    )
    assert created.status_code == 201
    txid = created.json()["txid"]
    assert_json_error(call("GET", f"/push/{txid}"), 404, "transaction_not_found")
    assert_json_error(call("POST", f"/push/{txid}/cancel"), 404, "transaction_not_found")
    batch = call("POST", "/push/statuses", {"txids": [txid]})
    assert batch.status_code == 200
    assert batch.json() == {"transactions": [], "not_found": [txid]}
    assert PushTransaction.objects.get(txid=txid).status == PushStatus.PENDING
    # Its creator still sees it.
    assert call("GET", f"/push/{txid}", bearer=other_token).json()["status"] == "pending"


# --- bad input (ASVS-10) ------------------------------------------------------------
@pytest.mark.req("ASVS-10")
def test_malformed_bodies_are_400_and_change_nothing(call: Callable[..., Any], linked: Linked) -> None:
    uuid = linked.account.uuid
    raw_bodies: list[str | bytes] = [
        "",
        "{",
        "not json",
        "[]",
        '"a string"',
        "42",
        "null",
        b"\xff\xfe\x00garbage",
        "[" * 5000 + "]" * 5000,
        "[" * 1500 + "]" * 1500,
        '{"a":' * 1500 + "1" + "}" * 1500,
    ]
    for path in (f"/users/{uuid}/totp/verify", f"/users/{uuid}/push", "/push/statuses"):
        for raw in raw_bodies:
            assert_json_error(call("POST", path, raw), 400, "invalid_request")
    nothing_changed()


@pytest.mark.req("ASVS-10")
def test_a_body_over_the_limit_is_413_json_not_500(call: Callable[..., Any], linked: Linked) -> None:
    over_partner_limit = '{"device_id": "x", "code": "1"' + " " * 20_000 + "}"
    huge = json.dumps({"device_id": linked.totp.device_id, "code": "123456", "pad": "x" * (2 * 1024 * 1024)})
    for raw in (over_partner_limit, huge):
        for path in (f"/users/{linked.account.uuid}/totp/verify", "/push/statuses"):
            assert_json_error(call("POST", path, raw), 413, "request_too_large")
    nothing_changed()


@pytest.mark.req("ASVS-10")
def test_wrong_types_and_ranges_are_400_and_change_nothing(call: Callable[..., Any], linked: Linked) -> None:
    uuid = linked.account.uuid
    totp_id, push_id = linked.totp.device_id, linked.push.device_id
    verify_bodies: list[dict[str, Any]] = [
        {"code": "123456"},
        {"device_id": totp_id},
        {"device_id": totp_id, "code": 123456},
        {"device_id": totp_id, "code": ["123456"]},
        {"device_id": [totp_id], "code": "123456"},
        {"device_id": None, "code": "123456"},
        {"device_id": totp_id, "code": "1" * 17},
        {"device_id": totp_id, "code": "12345\u0000"},
        {"device_id": totp_id, "code": "\ud800\ud800"},
        {"device_id": totp_id, "code": "\u0661\u0662\u0663\u0664\u0665\u0666"},  # Arabic-Indic digits
        {"device_id": totp_id, "code": "\uff11\uff12\uff13\uff14\uff15\uff16"},  # full-width digits
    ]
    for body in verify_bodies:
        assert_json_error(call("POST", f"/users/{uuid}/totp/verify", body), 400, "invalid_request")
    push_bodies: list[dict[str, Any]] = [
        {"title": "Sign"},
        {"device_id": push_id},
        {"device_id": push_id, "title": ""},
        {"device_id": push_id, "title": "   "},
        {"device_id": push_id, "title": "x" * 201},
        {"device_id": push_id, "title": "Sign", "message": "x" * 1001},
        {"device_id": push_id, "title": "Sign", "message": 5},
        {"device_id": push_id, "title": "Si\u0000gn"},
        {"device_id": push_id, "title": "\udfff"},
        {"device_id": push_id, "title": "Sign", "expires_in": "60"},
        {"device_id": push_id, "title": "Sign", "expires_in": True},
        {"device_id": push_id, "title": "Sign", "expires_in": 60.5},
        {"device_id": push_id, "title": "Sign", "expires_in": 0},
        {"device_id": push_id, "title": "Sign", "expires_in": -5},
        {"device_id": push_id, "title": "Sign", "expires_in": 601},
        {"device_id": push_id, "title": "Sign", "expires_in": 10**30},
    ]
    for body in push_bodies:
        assert_json_error(call("POST", f"/users/{uuid}/push", body), 400, "invalid_request")
    for body in (
        {},
        {"txids": "abc"},
        {"txids": []},
        {"txids": [1, 2]},
        {"txids": [None]},
        {"txids": ["a"] * 101},
        {"txids": {"a": 1}},
    ):
        assert_json_error(call("POST", "/push/statuses", body), 400, "invalid_request")
    nothing_changed()


@pytest.mark.req("ASVS-10")
def test_unknown_ids_and_paths_are_404_json(call: Callable[..., Any], linked: Linked) -> None:
    for txid in ("0" * 32, "x" * 300, "%00", "statuses-not"):
        assert_json_error(call("GET", f"/push/{txid}"), 404, "transaction_not_found")
        assert_json_error(call("POST", f"/push/{txid}/cancel"), 404, "transaction_not_found")
    for path in ("/", "/users", f"/users/{linked.account.uuid}", "/push", "/nope/../../admin", "/devices"):
        assert_json_error(call("GET", path), 404, "not_found")
    batch = call("POST", "/push/statuses", {"txids": ["0" * 32, "x" * 300, "\u0000", "0" * 32]})
    assert batch.status_code == 200
    assert batch.json() == {"transactions": [], "not_found": ["0" * 32, "x" * 300, "\u0000"]}
    nothing_changed()


@pytest.mark.req("ASVS-10")
def test_wrong_methods_are_405_json(call: Callable[..., Any], linked: Linked) -> None:
    uuid = linked.account.uuid
    for method, path, allowed in (
        ("POST", f"/users/{uuid}/devices", "GET"),
        ("DELETE", f"/users/{uuid}/devices", "GET"),
        ("GET", f"/users/{uuid}/totp/verify", "POST"),
        ("PUT", f"/users/{uuid}/push", "POST"),
        ("GET", "/push/statuses", "POST"),
        ("DELETE", "/push/" + "0" * 32, "GET"),
        ("GET", "/push/" + "0" * 32 + "/cancel", "POST"),
    ):
        response = call(method, path, {})
        assert_json_error(response, 405, "method_not_allowed")
        assert response["Allow"] == allowed
    nothing_changed()


# --- decisions are recorded (ASVS-09) ------------------------------------------------
@pytest.mark.req("ASVS-09")
@pytest.mark.req("NIST-01")
@pytest.mark.req("NIST-02")
def test_every_code_decision_is_recorded(call: Callable[..., Any], linked: Linked, partner: Partner) -> None:
    path = f"/users/{linked.account.uuid}/totp/verify"
    good = current_code(linked.totp)
    assert call("POST", path, {"device_id": linked.totp.device_id, "code": good}).json() == {"result": "allow"}
    replay = call("POST", path, {"device_id": linked.totp.device_id, "code": good}).json()
    assert replay == {"result": "deny", "reason": "code_replayed", "locked_until": None}
    for _ in range(4):
        denied = call("POST", path, {"device_id": linked.totp.device_id, "code": wrong_code(linked.totp)}).json()
        assert denied["result"] == "deny"
    locked = call("POST", path, {"device_id": linked.totp.device_id, "code": current_code(linked.totp, 1)}).json()
    assert locked["result"] == "deny" and locked["reason"] == "device_locked"
    assert dt.datetime.fromisoformat(locked["locked_until"]) > timezone.now() + dt.timedelta(minutes=14)

    rows = list(PartnerDecision.objects.filter(kind="totp_verify").order_by("created_at", "id"))
    assert [(r.decision, r.reason) for r in rows] == [
        ("allow", "allow"),
        ("replay", "code_replayed"),
        ("deny", "invalid_code"),
        ("deny", "invalid_code"),
        ("deny", "invalid_code"),
        ("deny", "invalid_code"),
        ("locked", "device_locked"),
    ]
    assert all(r.client_id == partner.client.pk and r.device_id == linked.totp.pk for r in rows)


@pytest.mark.req("ASVS-09")
@pytest.mark.req("ASVS-04")
def test_every_push_decision_is_recorded(call: Callable[..., Any], linked: Linked) -> None:
    path = f"/users/{linked.account.uuid}/push"
    body = {"device_id": linked.push.device_id, "title": "Sign 1 prescription", "message": "Oxycodone 5 mg"}
    txids = []
    for _ in range(3):
        created = call("POST", path, body)
        assert created.status_code == 201
        txids.append(created.json()["txid"])
    limited = call("POST", path, body)
    assert_json_error(limited, 429, "rate_limited")
    assert int(limited["Retry-After"]) >= 1
    assert limited.json()["retry_after"] == int(limited["Retry-After"])

    cancelled = call("POST", f"/push/{txids[0]}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = call("POST", f"/push/{txids[0]}/cancel", {})
    assert again.json()["status"] == "cancelled"

    push = PushTransaction.objects.get(txid=txids[1])
    signature = authenticators.encode_b64url(
        linked.phone_key.sign(authenticators.answer_message(push.txid, "approve", push.match_number))
    )
    authenticators.answer_push(push.txid, "approve", push.match_number, signature)

    rows = list(PartnerDecision.objects.order_by("created_at", "id").values_list("kind", "decision", "txid"))
    assert rows == [
        ("push_create", "created", txids[0]),
        ("push_create", "created", txids[1]),
        ("push_create", "created", txids[2]),
        ("push_create", "rate_limited", ""),
        ("push_cancel", "cancelled", txids[0]),
        ("push_cancel", "no_change", txids[0]),
        ("push_answer", "approved", txids[1]),
    ]


def test_push_create_answers_201_with_the_transaction(call: Callable[..., Any], linked: Linked) -> None:
    before = timezone.now()
    response = call(
        "POST",
        f"/users/{linked.account.uuid}/push",
        {"device_id": linked.push.device_id, "title": "Sign", "message": "m", "expires_in": 300},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"txid", "status", "expires_at", "answered_at", "match_number"}
    assert body["status"] == "pending" and body["answered_at"] is None
    assert body["match_number"] == PushTransaction.objects.get(txid=body["txid"]).match_number
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert before + dt.timedelta(seconds=299) <= expires <= timezone.now() + dt.timedelta(seconds=301)
    status = call("GET", f"/push/{body['txid']}")
    assert status.status_code == 200 and status.json() == body


@pytest.mark.req("ASVS-09")
def test_admins_read_decisions_but_cannot_add_or_change_them(
    call: Callable[..., Any], linked: Linked, django_user_model: Any
) -> None:
    bad = {"device_id": linked.totp.device_id, "code": wrong_code(linked.totp)}
    call("POST", f"/users/{linked.account.uuid}/totp/verify", bad)
    decision = PartnerDecision.objects.get()
    admin = django_user_model.objects.create_superuser("root", "root@example.test", "Root-Pass-2026")
    browser = HttpClient()
    browser.force_login(admin)
    listing = browser.get("/admin/idme_sandbox/partnerdecision/")
    assert listing.status_code == 200
    assert b"totp_verify" in listing.content
    assert browser.get("/admin/idme_sandbox/partnerdecision/add/").status_code == 403
    change_url = f"/admin/idme_sandbox/partnerdecision/{decision.pk}/change/"
    assert browser.get(change_url).status_code == 200  # view only
    browser.post(change_url, {"decision": "allow"})
    decision.refresh_from_db()
    assert decision.decision == "deny"
