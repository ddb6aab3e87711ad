from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from providers.models import Practice, Provider, User


def snapshot() -> tuple[list[Any], list[Any]]:
    users = list(User.objects.order_by("username").values("username", "first_name", "email", "is_staff"))
    providers = list(Provider.objects.order_by("npi").values("display_name", "npi", "user__username"))
    return users, providers


@pytest.mark.django_db(transaction=True)
def test_seed_demo_twice_gives_the_same_data() -> None:
    call_command("seed_demo", verbosity=0)
    first = snapshot()
    call_command("seed_demo", verbosity=0)
    assert snapshot() == first
    assert {u["username"] for u in first[0]} >= {"dr.smith", "dr.jones", "manager.lee", "admin"}
    assert User.objects.get(username="dr.smith").check_password("Demo-EHR-2026")


@pytest.mark.req("DEA-20")
@pytest.mark.django_db(transaction=True)
def test_the_demo_registrations_are_verified_by_the_demo_access_manager_against_the_registry_data() -> None:
    from audit.models import AuditEvent
    from providers.credentials.rules import license_is_verified, registration_is_verified
    from providers.epcs import epcs_block_reason
    from providers.models import DeaRegistration

    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    # Each verified by an access manager of a practice the prescriber works in.
    for username, number, verifier in (
        ("dr.smith", "AS1234563", "manager.lee"),
        ("dr.jones", "BJ1234563", "manager.lee"),
        ("dr.patel", "FP1357929", "manager.ortiz"),
    ):
        registration = DeaRegistration.objects.get(number=number)
        assert registration.provider.user.username == username
        assert registration_is_verified(registration)
        assert registration.verified_by == User.objects.get(username=verifier)
        assert registration.registry_answer["status"] == "active"
        assert registration.registry_answer["expires_on"] == registration.expires_on.isoformat()
        assert all(license_is_verified(lic) for lic in registration.provider.state_licenses.all())
    # Seeding twice verifies once; the audit trail says it was seeded.
    events = AuditEvent.objects.filter(action="credentials.dea_verified")
    assert events.count() == 3 and all(e.details["seeded"] for e in events)
    # make run: dr.smith may sign at once in EHR Demo Practice, dr.patel in Riverside.
    demo = Practice.objects.get(name="EHR Demo Practice")
    riverside = Practice.objects.get(name="Riverside Family Medicine")
    assert epcs_block_reason(Provider.objects.get(user__username="dr.smith"), demo) is None
    assert epcs_block_reason(Provider.objects.get(user__username="dr.patel"), riverside) is None
