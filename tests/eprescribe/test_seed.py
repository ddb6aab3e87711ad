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
    assert ready.count() == 3
    assert all(rx.medication.is_controlled and rx.pharmacy.accepts_epcs for rx in ready)
    registration = DeaRegistration.objects.get(provider__user__username="dr.smith")
    validate_dea_number(registration.number, "Smith")  # passes the check digit, S for Smith
    assert {rx.dea_registration for rx in ready} == {registration}
    schedules = set(Medication.objects.values_list("dea_schedule", flat=True))
    assert {"2", "4", "5", ""} <= schedules
    assert Pharmacy.objects.filter(accepts_epcs=True).count() == 1
