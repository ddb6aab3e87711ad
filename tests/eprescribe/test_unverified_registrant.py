"""Signing needs a verified, current DEA registration (DEA-05, DEA-20): a number typed on one's
own eRx Info, or a verified registration edited to Schedule II and an expiry of 2099, signs
nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from audit.models import AuditEvent
from eprescribe import services
from eprescribe.forms import PrescriptionForm
from eprescribe.models import Prescription
from providers.epcs import epcs_block_reason
from providers.models import DeaRegistration, EpcsPermission, EpcsPermissionState, IdentityAssurance, Provider, User
from tests.eprescribe.conftest import RxWorld, client_for
from tests.registry_fixtures import verified_registration


def dea_form(number: str, expires_on: str, *schedules: str) -> dict[str, str]:
    return {"number": number, "state": "NJ", "expires_on": expires_on, **{name: "on" for name in schedules}}


@pytest.mark.req("DEA-05")
@pytest.mark.req("DEA-20")
def test_a_number_typed_on_erx_info_signs_nothing(rx: RxWorld, make_person: Callable[..., User]) -> None:
    wilson = make_person("dr.wilson", first_name="James", last_name="Wilson")
    provider = Provider.objects.get(user=wilson)
    provider.identity_ial = IdentityAssurance.IAL2
    provider.identity_verified_at = rx.provider.identity_verified_at
    provider.save()
    # EPCS permission granted earlier (say, under a registration since removed).
    EpcsPermission.objects.create(provider=provider, practice=rx.practice, state=EpcsPermissionState.GRANTED)
    response = client_for(wilson).post(
        "/account/credentials/dea/add/",
        dea_form("AW1234563", "2099-12-31", "schedule_2", "schedule_3", "schedule_4", "schedule_5"),
    )
    assert response.status_code == 302
    typed = DeaRegistration.objects.get(number="AW1234563")
    reason = epcs_block_reason(provider, rx.practice, typed)
    assert reason is not None and "has not been verified against the DEA registry" in reason
    draft = services.create_prescription(
        actor=wilson, prescriber=provider, practice=rx.practice, fields=rx.fields(dea_registration=typed)
    )
    ready = services.mark_ready(draft, wilson, practice=draft.practice)
    challenge = rx.approved_challenge(provider)
    with pytest.raises(services.SigningRefused) as refused:
        services.sign_prescriptions(
            provider=provider,
            practice=rx.practice,
            prescriptions=[ready],
            device_label=challenge.device_label,
            challenge_id=str(challenge.pk),
        )
    assert "has not been verified against the DEA registry" in str(refused.value)
    assert not Prescription.objects.get(pk=ready.pk).is_signed


@pytest.mark.req("DEA-05")
@pytest.mark.req("DEA-20")
def test_giving_oneself_schedule_ii_and_2099_unverifies_and_signs_nothing(rx: RxWorld) -> None:
    # A verified registration without Schedule II.
    registration = rx.registration
    registration.schedule_2 = registration.schedule_2n = False
    registration.save()
    verified_registration(registration)
    rx.sign(rx.ready(medication=rx.alprazolam))  # C-IV signs
    # The prescriber gives themselves Schedule II and an expiry of 2099 on eRx Info.
    response = client_for(rx.user).post(
        f"/account/credentials/dea/{registration.pk}/edit/",
        dea_form(
            registration.number, "2099-12-31", "schedule_2", "schedule_2n", "schedule_3", "schedule_4", "schedule_5"
        ),
    )
    assert response.status_code == 302
    edited = DeaRegistration.objects.get(pk=registration.pk)
    assert edited.schedule_2 and edited.expires_on == dt.date(2099, 12, 31)
    unverified = AuditEvent.objects.get(action="credentials.dea_unverified")
    assert set(unverified.details["changed"]) >= {"schedule_2", "expires_on"}
    oxycodone = rx.ready(medication=rx.oxycodone, dea_registration=edited)  # C-II: the edit "allows" it
    with pytest.raises(services.SigningRefused) as refused:
        rx.sign(oxycodone)
    assert "has not been verified against the DEA registry" in str(refused.value)
    assert not Prescription.objects.get(pk=oxycodone.pk).is_signed


@pytest.mark.req("DEA-05")
@pytest.mark.req("DEA-20")
def test_the_prescription_form_offers_only_verified_current_registrations(rx: RxWorld, staff_user: User) -> None:
    typed = DeaRegistration.objects.create(
        provider=rx.provider, number="BH1234563", state="NY", expires_on=dt.date.today() + dt.timedelta(days=90)
    )
    for user, own in ((rx.user, rx.provider), (staff_user, None)):
        form = PrescriptionForm(user=user, practice=rx.practice, own_provider=own)
        offered = set(form.fields["dea_registration"].queryset)  # type: ignore[attr-defined]
        assert rx.registration in offered and typed not in offered
    verified_registration(typed)
    form = PrescriptionForm(user=rx.user, practice=rx.practice, own_provider=rx.provider)
    assert typed in set(form.fields["dea_registration"].queryset)  # type: ignore[attr-defined]
