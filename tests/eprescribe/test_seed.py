"""`seed_eprescribe`: demo data the ceremony can use at once; running it twice changes nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from eprescribe.models import Medication, Patient, Pharmacy, Prescription, PrescriptionState
from providers.demo import seed_people
from providers.models import DeaRegistration
from providers.validators import validate_dea_number

pytestmark = pytest.mark.django_db


def snapshot() -> tuple[int, ...]:
    return (
        Patient.objects.count(),
        Pharmacy.objects.count(),
        Medication.objects.count(),
        Prescription.objects.count(),
        DeaRegistration.objects.count(),
    )


def test_seed_makes_ready_controlled_prescriptions_for_dr_smith_and_is_idempotent() -> None:
    seed_people()
    call_command("seed_eprescribe")
    first = snapshot()
    call_command("seed_eprescribe")
    assert snapshot() == first
    ready = Prescription.objects.filter(prescriber__user__username="dr.smith", state=PrescriptionState.READY)
    assert ready.count() == 3 and {rx.practice.name for rx in ready} == {"EHR Demo Practice"}
    assert all(rx.medication.is_controlled and rx.pharmacy.accepts_epcs for rx in ready)
    registration = DeaRegistration.objects.get(provider__user__username="dr.smith")
    validate_dea_number(registration.number, "Smith")  # passes the check digit, S for Smith
    assert {rx.dea_registration for rx in ready} == {registration}
    schedules = set(Medication.objects.values_list("dea_schedule", flat=True))
    assert {"2", "4", "5", ""} <= schedules
    assert Pharmacy.objects.filter(accepts_epcs=True).count() == 1


@pytest.mark.req("ASVS-11")
def test_seed_gives_each_practice_its_own_patients_and_prescriptions() -> None:
    from providers.epcs import epcs_block_reason, permission_for
    from providers.models import Practice, Provider

    seed_people()
    call_command("seed_eprescribe")
    demo = Practice.objects.get(name="EHR Demo Practice")
    riverside = Practice.objects.get(name="Riverside Family Medicine")
    assert set(Patient.objects.filter(practice=demo).values_list("last_name", flat=True)) == {
        "Garcia",
        "Miller",
        "Chen",
    }
    assert set(Patient.objects.filter(practice=riverside).values_list("last_name", flat=True)) == {
        "Okafor",
        "Lindqvist",
    }
    # Every prescription's patient is of its practice.
    assert all(rx.patient.practice_id == rx.practice_id for rx in Prescription.objects.select_related("patient"))
    assert not Prescription.objects.filter(practice=riverside, prescriber__user__username="dr.smith").exists()
    # Riverside: nurse.kim (agent) prepared them; dr.patel has a ready one now, and her controlled
    # ones wait for her DEA registration; dr.jones (a locum) has a ready controlled one there.
    river = Prescription.objects.filter(practice=riverside)
    assert {rx.created_by.username for rx in river} == {"nurse.kim"}
    assert river.filter(prescriber__user__username="dr.patel", state=PrescriptionState.READY).exists()
    jones_ready = river.get(prescriber__user__username="dr.jones")
    assert jones_ready.state == PrescriptionState.READY and jones_ready.medication.is_controlled
    # EPCS permissions per practice: dr.jones in Riverside only (in the demo practice he is the
    # approving registrant), dr.patel in Riverside, dr.smith in the demo practice.
    jones = Provider.objects.get(user__username="dr.jones")
    smith = Provider.objects.get(user__username="dr.smith")
    patel = Provider.objects.get(user__username="dr.patel")
    assert permission_for(jones, demo) is None and epcs_block_reason(jones, riverside) is None
    assert epcs_block_reason(smith, demo) is None and permission_for(smith, riverside) is None
    permission = permission_for(patel, riverside)
    assert permission is not None and permission.is_granted and permission_for(patel, demo) is None
