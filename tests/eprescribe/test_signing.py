"""Signing (DEA-05, 06, 08, 11, 12, 16), the application key and `verify_signatures`."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.management import CommandError, call_command
from django.db import connection

from audit import keys
from audit.models import AuditEvent
from eprescribe import services
from eprescribe.models import Prescription, PrescriptionState
from mfa.models import ChallengeStatus
from providers.models import EpcsPermission, EpcsPermissionState, User
from tests.eprescribe.conftest import RxWorld, behind_the_triggers, make_signer, raw_update

pytestmark = pytest.mark.django_db


def signed_count() -> int:
    return Prescription.objects.filter(signed_at__isnull=False).count()


def public_key_of(rx: RxWorld) -> Ed25519PublicKey:
    return keys.signing_key().private_key.public_key()


# --- a successful signing ------------------------------------------------------------
@pytest.mark.req("DEA-11")
def test_signing_a_batch_signs_each_prescription_with_digest_and_ed25519_signature(rx: RxWorld) -> None:
    first = rx.ready()
    second = rx.ready(medication=rx.alprazolam, refills=2, quantity=30)
    signed = rx.sign(first, second)
    assert {p.pk for p in signed} == {first.pk, second.pk}
    public = public_key_of(rx)
    for prescription in Prescription.objects.filter(pk__in=[first.pk, second.pk]):
        assert prescription.state == PrescriptionState.SIGNED
        assert prescription.signed_at is not None
        payload = prescription.canonical_payload.encode()
        assert prescription.digest_sha256 == hashlib.sha256(payload).hexdigest()
        public.verify(base64.b64decode(prescription.signature), payload)  # raises if invalid
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert prescription.signing_key_id == hashlib.sha256(raw).hexdigest()[:16]
        assert prescription.device_label == "Office iPhone (Generate 2FA Key)"
        assert prescription.challenge_id
        [event] = AuditEvent.objects.filter(action="eprescribe.signed", target_id=str(prescription.pk))
        assert event.details["digest_sha256"] == prescription.digest_sha256
    # One transaction: both carry the same signing time.
    assert len({p.signed_at for p in Prescription.objects.filter(pk__in=[first.pk, second.pk])}) == 1


@pytest.mark.req("DEA-06")
def test_the_canonical_form_holds_every_dea_required_datum(rx: RxWorld) -> None:
    [prescription] = rx.sign(rx.ready())
    data = json.loads(prescription.canonical_payload)
    assert prescription.canonical_payload == json.dumps(data, sort_keys=True, separators=(",", ":"))
    assert data["written_date"] == prescription.written_date.isoformat()
    assert data["patient"]["full_name"] == "Pat Doe"
    assert data["patient"]["address"] == {
        "line1": "22 Elm Street",
        "line2": "",
        "city": "Trenton",
        "state": "NJ",
        "postal_code": "08608",
    }
    assert data["medication"]["name"] == "Oxycodone Hydrochloride"
    assert data["medication"]["strength"] == "5 mg"
    assert data["medication"]["dosage_form"] == "tablet"
    assert data["quantity"] == 20 and data["quantity_unit"] == "tablets"
    assert data["directions"] == "Take 1 tablet by mouth every 6 hours as needed for pain"
    assert data["refills"] == 0
    assert data["prescriber"]["name"] == "Dr. Gregory House"
    assert data["prescriber"]["address"]["line1"] == "1 Princeton Plaza"
    assert data["prescriber"]["dea_number"] == "AH1234563"
    assert data["prescription_id"] == prescription.pk and data["patient"]["id"] == rx.patient.pk
    # Version 2 (issue 10): the practice the prescription is written in, its location.
    assert data["version"] == 2
    assert data["practice"]["id"] == rx.practice.pk
    assert data["practice"]["name"] == "Princeton Plainsboro Teaching Hospital"
    assert data["practice"]["address"]["line1"] == "1 Princeton Plaza"


# --- refusals: nothing is signed -------------------------------------------------------
@pytest.mark.req("DEA-08")
def test_a_batch_across_two_patients_is_refused(rx: RxWorld) -> None:
    mine = rx.ready()
    theirs = rx.ready(patient=rx.other_patient)
    with pytest.raises(services.SigningRefused, match="one patient"):
        rx.sign(mine, theirs)
    assert signed_count() == 0
    assert {p.state for p in Prescription.objects.all()} == {PrescriptionState.READY}


@pytest.mark.req("DEA-11")
@pytest.mark.parametrize("problem", ["draft", "not_controlled", "cancelled", "already_signed"])
def test_only_ready_controlled_unsigned_prescriptions_are_signed(rx: RxWorld, problem: str) -> None:
    good = rx.ready()
    if problem == "draft":
        bad = rx.draft()
    elif problem == "not_controlled":
        bad = rx.ready(medication=rx.amoxicillin, dea_registration=None)
    elif problem == "cancelled":
        bad = services.cancel_prescription(rx.ready(), practice=rx.practice, actor=rx.user)
    else:
        bad = rx.sign(rx.ready())[0]
    before = signed_count()
    with pytest.raises(services.SigningRefused):
        rx.sign(good, bad)
    assert signed_count() == before
    good.refresh_from_db()
    assert good.state == PrescriptionState.READY


@pytest.mark.req("DEA-05")
def test_only_the_registrant_signs_staff_and_other_prescribers_cannot(
    rx: RxWorld, staff_user: User, make_person: Callable[..., User]
) -> None:
    prepared = services.mark_ready(
        services.create_prescription(
            actor=staff_user, prescriber=rx.provider, practice=rx.practice, fields=rx.fields()
        ),
        staff_user,
        practice=rx.practice,
    )
    wilson = make_person("dr.wilson", first_name="James", last_name="Wilson")
    wilson_provider, _ = make_signer(wilson, "AW1234563", rx.practice)
    challenge = rx.approved_challenge(wilson_provider)
    with pytest.raises(services.SigningRefused, match="Only the prescriber"):
        services.sign_prescriptions(
            provider=wilson_provider,
            practice=rx.practice,
            prescriptions=[prepared],
            device_label="x",
            challenge_id=str(challenge.pk),
        )
    assert signed_count() == 0
    # The registrant signs what staff prepared.
    assert rx.sign(prepared)[0].state == PrescriptionState.SIGNED


def test_signing_is_refused_while_epcs_is_blocked(rx: RxWorld) -> None:
    prescription = rx.ready()
    EpcsPermission.objects.filter(provider=rx.provider).update(state=EpcsPermissionState.REVOKED)
    with pytest.raises(services.SigningRefused):
        rx.sign(prescription)
    assert signed_count() == 0


@pytest.mark.req("DEA-16")
@pytest.mark.parametrize("how", ["pending", "denied", "another_provider", "other_purpose", "unknown"])
def test_signing_is_refused_without_a_completed_two_factor_check(
    rx: RxWorld, make_person: Callable[..., User], how: str
) -> None:
    prescription = rx.ready()
    challenge = rx.approved_challenge()
    challenge_id = str(challenge.pk)
    if how in ("pending", "denied"):
        challenge.status = ChallengeStatus.PENDING if how == "pending" else ChallengeStatus.DENIED
        challenge.save()
    elif how == "another_provider":
        wilson = make_person("dr.wilson", first_name="James", last_name="Wilson")
        wilson_provider, _ = make_signer(wilson, "AW1234563", rx.practice)
        challenge_id = str(rx.approved_challenge(wilson_provider).pk)
    elif how == "other_purpose":
        challenge.purpose = "epcs_permission"
        challenge.save()
    else:
        challenge_id = "not-a-challenge"
    with pytest.raises(services.SigningRefused, match="Two-factor authentication was not completed"):
        services.sign_prescriptions(
            provider=rx.provider,
            practice=rx.practice,
            prescriptions=[prescription],
            device_label="x",
            challenge_id=challenge_id,
        )
    assert signed_count() == 0


@pytest.mark.req("DEA-16")
def test_signing_is_refused_when_the_signing_key_is_unavailable(rx: RxWorld, settings: Any, tmp_path: Any) -> None:
    prescription = rx.ready()
    settings.EPCS_SIGNING_KEY = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"
    with pytest.raises(services.SigningRefused, match="signing key is unavailable"):
        rx.sign(prescription)
    settings.EPCS_SIGNING_KEY = ""
    corrupt = tmp_path / "corrupt.pem"
    corrupt.write_text("this is not a PEM key")
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    for path in (corrupt, blocked / "key.pem"):  # a damaged key file; a key file that cannot be created
        settings.EPCS_SIGNING_KEY_FILE = path
        with pytest.raises(services.SigningRefused, match="signing key is unavailable"):
            rx.sign(prescription)
    assert signed_count() == 0


@pytest.fixture
def audit_offline() -> Iterator[None]:
    """Make the audit table refuse writes, the way a failed or read-only audit store would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION test_audit_offline() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'audit offline'; END; $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER test_audit_offline BEFORE INSERT ON audit_auditevent "
                "FOR EACH ROW EXECUTE FUNCTION test_audit_offline()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER test_audit_offline BEFORE INSERT ON audit_auditevent "
                "BEGIN SELECT RAISE(ABORT, 'audit offline'); END"
            )
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER test_audit_offline ON audit_auditevent")
            cursor.execute("DROP FUNCTION test_audit_offline()")
        else:
            cursor.execute("DROP TRIGGER test_audit_offline")


@pytest.mark.req("DEA-16")
def test_signing_is_refused_when_the_audit_trail_cannot_be_written(rx: RxWorld, request: Any) -> None:
    prescription = rx.ready()
    challenge = rx.approved_challenge()
    request.getfixturevalue("audit_offline")
    with pytest.raises(services.SigningRefused, match="audit trail is unavailable"):
        services.sign_prescriptions(
            provider=rx.provider,
            practice=rx.practice,
            prescriptions=[prescription],
            device_label="x",
            challenge_id=str(challenge.pk),
        )
    assert signed_count() == 0


# --- the signing key ---------------------------------------------------------------------------
def test_the_key_file_is_created_once_with_owner_only_permissions(rx: RxWorld, settings: Any) -> None:
    key = keys.signing_key()
    path = settings.EPCS_SIGNING_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys._cached.clear()
    assert keys.signing_key().key_id == key.key_id  # loaded, not replaced


def test_a_key_from_settings_is_used_and_retired_keys_still_verify(rx: RxWorld, settings: Any) -> None:
    old = Ed25519PrivateKey.generate()
    settings.EPCS_SIGNING_KEY = old.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    [signed] = rx.sign(rx.ready())
    assert signed.signing_key_id == keys.key_id_for(old.public_key())
    call_command("verify_signatures")
    # Rotate: a new key signs, the old public key is kept for verification.
    settings.EPCS_SIGNING_KEY = ""
    settings.EPCS_RETIRED_PUBLIC_KEYS = (
        old.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    [newer] = rx.sign(rx.ready(quantity=5))
    assert newer.signing_key_id != signed.signing_key_id
    call_command("verify_signatures")
    settings.EPCS_RETIRED_PUBLIC_KEYS = ""
    with pytest.raises(CommandError):
        call_command("verify_signatures")


# --- DEA-12: signed rows are locked -------------------------------------------------------------
@pytest.mark.req("DEA-12")
def test_a_signed_prescription_cannot_be_altered_but_can_be_cancelled(rx: RxWorld) -> None:
    [prescription] = rx.sign(rx.ready())
    with pytest.raises(services.PrescriptionError, match="Cancel it and write a new one"):
        services.update_prescription(
            prescription, practice=prescription.practice, actor=rx.user, changes={"directions": "Take 2 tablets"}
        )
    with pytest.raises(services.PrescriptionError):
        services.mark_ready(prescription, rx.user, practice=prescription.practice)
    prescription.refresh_from_db()
    assert prescription.directions == "Take 1 tablet by mouth every 6 hours as needed for pain"
    cancelled = services.cancel_prescription(
        prescription, practice=prescription.practice, actor=rx.user, reason="Re-prescribing"
    )
    assert cancelled.state == PrescriptionState.CANCELLED
    assert cancelled.signature == prescription.signature  # the signed record is kept as it was
    call_command("verify_signatures")


@pytest.mark.req("DEA-12")
def test_staff_cannot_cancel_a_signed_prescription(rx: RxWorld, staff_user: User) -> None:
    prepared = services.mark_ready(
        services.create_prescription(
            actor=staff_user, prescriber=rx.provider, practice=rx.practice, fields=rx.fields()
        ),
        staff_user,
        practice=rx.practice,
    )
    rx.sign(prepared)
    with pytest.raises(services.PrescriptionError, match="Only the prescriber"):
        services.cancel_prescription(prepared, practice=prepared.practice, actor=staff_user)


# --- verify_signatures ---------------------------------------------------------------------------
@pytest.mark.req("DEA-11")
@pytest.mark.req("DEA-12")
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("directions", "Take 10 tablets every hour"),
        ("quantity", 200),
        ("canonical_payload", "{}"),
        ("signature", base64.b64encode(b"x" * 64).decode()),
    ],
)
def test_the_database_refuses_tampering_and_verify_signatures_detects_it_behind_the_triggers(
    rx: RxWorld, column: str, value: Any, capsys: Any
) -> None:
    [prescription] = rx.sign(rx.ready())
    rx.sign(rx.ready(quantity=3))  # an untouched one
    call_command("verify_signatures")
    update = f"UPDATE eprescribe_prescription SET {column} = %s WHERE id = %s"
    # Both databases refuse the UPDATE of signed content (a trigger, DEA-12).
    assert raw_update(update, [value, prescription.pk]) is False
    call_command("verify_signatures")
    # Someone with rights over the schema goes around the trigger: the verifier still sees it.
    with behind_the_triggers():
        assert raw_update(update, [value, prescription.pk])
    capsys.readouterr()
    with pytest.raises(CommandError, match="1 of 2 signed prescriptions failed verification"):
        call_command("verify_signatures")
    output = capsys.readouterr().out
    assert f"MISMATCH prescription {prescription.pk}" in output
    assert AuditEvent.objects.filter(
        action="eprescribe.signature_tamper_detected", target_id=str(prescription.pk)
    ).exists()


def test_verify_signatures_names_the_changed_data(rx: RxWorld, capsys: Any) -> None:
    [prescription] = rx.sign(rx.ready())
    with behind_the_triggers():
        assert raw_update("UPDATE eprescribe_prescription SET refills = 3 WHERE id = %s", [prescription.pk])
    with pytest.raises(CommandError):
        call_command("verify_signatures")
    assert "differs from what was signed (refills)" in capsys.readouterr().out


# --- canonical versions ----------------------------------------------------------------------------
@pytest.mark.req("DEA-11")
def test_a_prescription_signed_in_canonical_version_1_still_verifies(rx: RxWorld) -> None:
    """Signatures made before practices (version 1, no practice block) keep verifying."""
    import datetime as dt

    from django.utils import timezone

    from eprescribe import signing

    prescription = rx.ready()
    signed_at = timezone.now() - dt.timedelta(days=30)
    payload = signing.canonical_bytes(signing.canonical_data(prescription, signed_at, version=1))
    assert b'"practice"' not in payload and b'"version":1' in payload
    key = keys.signing_key()
    Prescription.objects.filter(pk=prescription.pk).update(
        signed_at=signed_at,
        canonical_payload=payload.decode(),
        digest_sha256=signing.digest(payload),
        signature=key.sign(payload),
        signing_key_id=key.key_id,
        state=PrescriptionState.SIGNED,
    )
    call_command("verify_signatures")  # raises CommandError on any problem


@pytest.mark.req("DEA-12")
@pytest.mark.req("ASVS-11")
def test_moving_a_signed_prescription_to_another_practice_is_detected(
    rx: RxWorld, other_practice: Any, capsys: Any
) -> None:
    [prescription] = rx.sign(rx.ready())
    Prescription.objects.filter(pk=prescription.pk).update(practice=other_practice)
    with pytest.raises(CommandError):
        call_command("verify_signatures")
    assert "differs from what was signed (practice.address.city, practice.address.line1" in capsys.readouterr().out


def test_the_pharmacy_message_names_the_practice_location(rx: RxWorld) -> None:
    from eprescribe import ncpdp

    [prescription] = rx.sign(rx.ready())
    message = ncpdp.build_new_rx(prescription).decode()
    assert "<PracticeLocation>" in message
    assert "<BusinessName>Princeton Plainsboro Teaching Hospital</BusinessName>" in message
