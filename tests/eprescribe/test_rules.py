"""Prescription rules in eprescribe.services: refills, schedules, ready mark, who prepares,
nothing deleted, and the audit trail of every change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction

from audit.models import AuditEvent, Outcome
from eprescribe import services
from eprescribe.admin import PrescriptionAdmin
from eprescribe.models import Medication, Prescription, PrescriptionState
from providers.models import DeaRegistration, User
from tests.eprescribe.conftest import RxWorld, make_signer

pytestmark = pytest.mark.django_db


def events(rx: Prescription, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_type="eprescribe.prescription", target_id=str(rx.pk)))


# --- DEA-18: refills ------------------------------------------------------------
@pytest.mark.req("DEA-18")
def test_schedule_ii_carries_no_refills(rx: RxWorld) -> None:
    with pytest.raises(ValidationError) as error:
        rx.draft(medication=rx.oxycodone, refills=1)
    assert error.value.message_dict["refills"] == ["Schedule II prescriptions cannot have refills."]
    assert not Prescription.objects.exists()
    assert rx.draft(medication=rx.oxycodone, refills=0).refills == 0


@pytest.mark.req("DEA-18")
@pytest.mark.parametrize("medication", ["buprenorphine", "alprazolam", "pregabalin"])
def test_schedules_iii_to_v_allow_at_most_five_refills(rx: RxWorld, medication: str) -> None:
    drug = getattr(rx, medication)
    assert rx.draft(medication=drug, refills=5).refills == 5
    with pytest.raises(ValidationError) as error:
        rx.draft(medication=drug, refills=6)
    assert "at most 5 refills" in error.value.message_dict["refills"][0]
    assert Prescription.objects.count() == 1


@pytest.mark.req("DEA-18")
def test_changing_the_drug_to_schedule_ii_re_checks_the_refills(rx: RxWorld) -> None:
    draft = rx.draft(medication=rx.alprazolam, refills=3)
    with pytest.raises(ValidationError):
        services.update_prescription(
            draft, practice=draft.practice, actor=rx.user, changes={"medication": rx.oxycodone}
        )
    draft.refresh_from_db()
    assert draft.medication == rx.alprazolam and draft.refills == 3


def test_a_non_controlled_drug_keeps_ordinary_refills(rx: RxWorld) -> None:
    assert rx.draft(medication=rx.amoxicillin, refills=11, dea_registration=None).refills == 11


# --- schedule I ---------------------------------------------------------------------
@pytest.mark.parametrize("schedule", ["1", "I"])
def test_schedule_i_medications_are_refused(db: None, schedule: str) -> None:
    medication = Medication(name="Heroin", strength="10 mg", dosage_form="powder", dea_schedule=schedule)
    with pytest.raises(ValidationError) as error:
        medication.full_clean()
    assert "Schedule I substances cannot be prescribed." in error.value.message_dict["dea_schedule"]


def test_the_database_refuses_a_schedule_i_medication_too(db: None) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Medication.objects.create(name="Heroin", strength="10 mg", dosage_form="powder", dea_schedule="1")


# --- DEA-05: staff prepare, registrant chooses a registration ---------------------------
@pytest.mark.req("DEA-05")
def test_staff_may_prepare_and_mark_ready_for_a_prescriber(rx: RxWorld, staff_user: User) -> None:
    draft = services.create_prescription(
        actor=staff_user, prescriber=rx.provider, practice=rx.practice, fields=rx.fields()
    )
    assert draft.created_by == staff_user and draft.prescriber == rx.provider
    ready = services.mark_ready(draft, staff_user, practice=draft.practice)
    assert ready.state == PrescriptionState.READY and ready.ready_by == staff_user
    assert services.prescriptions_for(staff_user, rx.practice).filter(pk=draft.pk).exists()


@pytest.mark.req("DEA-05")
def test_a_prescriber_cannot_prepare_in_another_prescribers_name(rx: RxWorld, make_person: Callable[..., User]) -> None:
    other = make_person("dr.wilson", first_name="James", last_name="Wilson")
    with pytest.raises(services.PrescriptionError):
        services.create_prescription(actor=other, prescriber=rx.provider, practice=rx.practice, fields=rx.fields())
    assert not Prescription.objects.exists()


@pytest.mark.req("DEA-05")
def test_the_dea_registration_must_be_the_prescribers_own_and_one_of_several_is_chosen(
    rx: RxWorld, make_person: Callable[..., User]
) -> None:
    second = DeaRegistration.objects.create(
        provider=rx.provider, number="BH1234563", state="NY", expires_on=dt.date.today() + dt.timedelta(days=90)
    )
    chosen = rx.draft(dea_registration=second)
    assert chosen.dea_registration == second
    wilson = make_person("dr.wilson", first_name="James", last_name="Wilson")
    _, foreign = make_signer(wilson, "AW1234563", rx.practice)
    with pytest.raises(ValidationError) as error:
        rx.draft(dea_registration=foreign)
    assert "own DEA registrations" in error.value.message_dict["dea_registration"][0]


def test_a_controlled_prescription_needs_a_registration_and_an_epcs_pharmacy_to_be_ready(rx: RxWorld) -> None:
    draft = rx.draft(dea_registration=None, pharmacy=rx.non_epcs_pharmacy)
    with pytest.raises(services.PrescriptionError) as error:
        services.mark_ready(draft, rx.user, practice=draft.practice)
    assert "Choose the DEA registration" in str(error.value)
    assert "does not accept electronic prescriptions for controlled substances" in str(error.value)
    draft.refresh_from_db()
    assert draft.state == PrescriptionState.DRAFT


# --- DEA-07: the ready mark ---------------------------------------------------------------
@pytest.mark.req("DEA-07")
def test_mark_ready_then_changing_a_dea_required_field_clears_it_and_is_audited(rx: RxWorld) -> None:
    prescription = rx.ready()
    assert prescription.state == PrescriptionState.READY and prescription.ready_at is not None
    assert events(prescription, "eprescribe.marked_ready")
    changed = services.update_prescription(
        prescription, practice=prescription.practice, actor=rx.user, changes={"quantity": 10}
    )
    assert changed.state == PrescriptionState.DRAFT and changed.ready_at is None
    cleared = events(prescription, "eprescribe.ready_cleared")
    assert cleared and cleared[0].details["fields"] == ["quantity"] and cleared[0].actor == rx.user


@pytest.mark.req("DEA-07")
@pytest.mark.parametrize(
    "field",
    [
        "patient",
        "medication",
        "dea_registration",
        "quantity",
        "quantity_unit",
        "directions",
        "refills",
        "earliest_fill_date",
        "pharmacy",
    ],
)
def test_every_dea_required_field_clears_ready(rx: RxWorld, field: str) -> None:
    second_registration = DeaRegistration.objects.create(
        provider=rx.provider, number="BH1234563", state="NY", expires_on=dt.date.today() + dt.timedelta(days=90)
    )
    new_values = {
        "patient": rx.other_patient,
        "medication": rx.alprazolam,
        "dea_registration": second_registration,
        "quantity": 7,
        "quantity_unit": "capsules",
        "directions": "Take 1 tablet at bedtime",
        "refills": 0,
        "earliest_fill_date": dt.date.today() + dt.timedelta(days=9),
        "pharmacy": rx.non_epcs_pharmacy,
    }
    prescription = rx.ready(medication=rx.pregabalin, refills=2)
    changed = services.update_prescription(
        prescription, practice=prescription.practice, actor=rx.user, changes={field: new_values[field]}
    )
    assert changed.state == PrescriptionState.DRAFT


@pytest.mark.req("DEA-07")
def test_saving_the_same_values_keeps_ready(rx: RxWorld) -> None:
    prescription = rx.ready()
    same = services.update_prescription(
        prescription, practice=prescription.practice, actor=rx.user, changes={"quantity": prescription.quantity}
    )
    assert same.state == PrescriptionState.READY
    assert not events(prescription, "eprescribe.ready_cleared")


# --- DEA-17: nothing purges prescriptions ---------------------------------------------------
@pytest.mark.req("DEA-17")
def test_prescriptions_cannot_be_deleted(rx: RxWorld) -> None:
    signed = rx.sign(rx.ready())[0]
    draft = rx.draft()
    for prescription in (signed, draft):
        with pytest.raises(ValidationError):
            prescription.delete()
    with pytest.raises(ValidationError):
        Prescription.objects.all().delete()
    assert Prescription.objects.count() == 2
    for prescription in (signed, draft):  # the database refuses too (a trigger on both databases)
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM eprescribe_prescription WHERE id = %s", [prescription.pk])
    assert Prescription.objects.count() == 2
    admin = PrescriptionAdmin(Prescription, None)  # type: ignore[arg-type]
    assert admin.has_delete_permission(None, signed) is False  # type: ignore[arg-type]
    assert admin.has_change_permission(None, signed) is False  # type: ignore[arg-type]


# --- DEA-13: the audit trail records each step ------------------------------------------------
@pytest.mark.req("DEA-13")
def test_create_alter_ready_sign_and_cancel_are_audited_with_actor_time_and_outcome(rx: RxWorld) -> None:
    prescription = rx.draft()
    services.update_prescription(prescription, practice=prescription.practice, actor=rx.user, changes={"quantity": 12})
    services.mark_ready(prescription, rx.user, practice=prescription.practice)
    rx.sign(prescription)
    services.cancel_prescription(prescription, practice=prescription.practice, actor=rx.user, reason="Wrong strength")
    for action in (
        "eprescribe.prescription_created",
        "eprescribe.prescription_altered",
        "eprescribe.marked_ready",
        "eprescribe.signed",
        "eprescribe.cancelled",
    ):
        [event] = events(prescription, action)
        assert event.actor == rx.user and event.outcome == Outcome.SUCCESS and event.occurred_at is not None
    assert events(prescription, "eprescribe.cancelled")[0].details["reason"] == "Wrong strength"


@pytest.mark.req("DEA-13")
def test_a_refused_change_to_a_signed_prescription_is_audited(rx: RxWorld) -> None:
    prescription = rx.sign(rx.ready())[0]
    with pytest.raises(services.PrescriptionError):
        services.update_prescription(
            prescription, practice=prescription.practice, actor=rx.user, changes={"quantity": 99}
        )
    [event] = events(prescription, "eprescribe.alter_refused")
    assert event.outcome == Outcome.DENIED and event.actor == rx.user
