"""Demo people for `manage.py seed_demo`; the README lists the same logins."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

import audit
from dea_registry_client import BusinessActivity, RegistryRecord, RegistryStatus, Schedule
from providers import erx_cache
from providers.credentials.rules import license_is_verified, registration_is_verified
from providers.credentials.verification import record_dea_verification, verify_state_license
from providers.models import (
    DeaRegistration,
    EpcsPermission,
    EpcsPermissionRequest,
    EpcsPermissionState,
    EpcsRequestAction,
    EpcsRequestStatus,
    IdentityAssurance,
    Membership,
    Practice,
    PracticeRole,
    Provider,
    StateLicense,
    User,
)

DEMO_PASSWORD = "Demo-EHR-2026"


@dataclass(frozen=True)
class DemoPerson:
    username: str
    first_name: str
    last_name: str
    email: str
    npi: str = ""
    is_staff: bool = False
    is_superuser: bool = False
    # Compared with ID.me's birth_date claim; the same dates as the demo ID.me accounts.
    date_of_birth: dt.date | None = None


DEMO_PEOPLE = (
    DemoPerson(
        "dr.smith", "Alice", "Smith", "alice.smith@example.test", npi="1234567893", date_of_birth=dt.date(1979, 3, 14)
    ),
    DemoPerson(
        "dr.jones", "Brian", "Jones", "brian.jones@example.test", npi="1234567802", date_of_birth=dt.date(1975, 11, 2)
    ),
    # Not linked to ID.me: verifying with alicia.smyth@example.test (her maiden name) shows the
    # identity mismatch that an access manager reviews (docs/epcs-permissions.md).
    DemoPerson(
        "dr.carter",
        "Alicia",
        "Carter",
        "alicia.carter@example.test",
        npi="1234567810",
        date_of_birth=dt.date(1984, 7, 22),
    ),
    # An access manager by membership (EHR Demo Practice); no Django admin (docs/epcs-permissions.md).
    DemoPerson("manager.lee", "Casey", "Lee", "casey.lee@example.test"),
    DemoPerson("admin", "Practice", "Admin", "admin@example.test", is_staff=True, is_superuser=True),
    # Riverside Family Medicine, the second demo practice (docs/architecture.md "Practices").
    # dr.patel is linked to the ID.me demo account priya.patel@example.test and holds FP1357929
    # (the registry's demo record, Schedules III-V), verified by manager.ortiz; her EPCS
    # permission in Riverside names that registration.
    DemoPerson(
        "dr.patel", "Priya", "Patel", "priya.patel@example.test", npi="1234567828", date_of_birth=dt.date(1982, 5, 9)
    ),
    DemoPerson("nurse.kim", "Dana", "Kim", "dana.kim@example.test"),
    DemoPerson("manager.ortiz", "Luis", "Ortiz", "luis.ortiz@example.test"),
    DemoPerson("auditor.wu", "Mei", "Wu", "mei.wu@example.test"),
    # Riverside's practice admin: not staff, not a superuser; Django admin shows only Riverside.
    DemoPerson("admin.reyes", "Rosa", "Reyes", "rosa.reyes@example.test"),
)


@dataclass(frozen=True)
class DemoPractice:
    name: str
    address_line1: str
    city: str
    state: str
    postal_code: str
    phone: str
    # (username, role) pairs
    members: tuple[tuple[str, PracticeRole], ...]


DEMO_PRACTICES = (
    DemoPractice(
        "EHR Demo Practice",
        "100 Main Street",
        "New York",
        "NY",
        "10001",
        "(212) 555-0100",
        (
            ("dr.smith", PracticeRole.PRESCRIBER),
            ("dr.jones", PracticeRole.PRESCRIBER),
            ("dr.carter", PracticeRole.PRESCRIBER),
            ("manager.lee", PracticeRole.ACCESS_MANAGER),
            ("admin", PracticeRole.PRACTICE_ADMIN),
        ),
    ),
    DemoPractice(
        "Riverside Family Medicine",
        "250 Riverside Drive",
        "New York",
        "NY",
        "10025",
        "(212) 555-0150",
        (
            ("dr.patel", PracticeRole.PRESCRIBER),
            ("dr.jones", PracticeRole.PRESCRIBER),  # a locum: works in both practices
            ("nurse.kim", PracticeRole.AGENT),
            ("manager.ortiz", PracticeRole.ACCESS_MANAGER),
            ("auditor.wu", PracticeRole.AUDITOR),
            ("admin.reyes", PracticeRole.PRACTICE_ADMIN),
        ),
    ),
)


def seed_practices() -> list[Practice]:
    """The two demo practices and their memberships (idempotent: a membership removed by hand
    is added again, none is removed)."""
    practices = []
    for item in DEMO_PRACTICES:
        practice, _ = Practice.objects.update_or_create(
            name=item.name,
            defaults={
                "address_line1": item.address_line1,
                "city": item.city,
                "state": item.state,
                "postal_code": item.postal_code,
                "phone": item.phone,
                "time_zone": "America/New_York",
            },
        )
        for username, role in item.members:
            Membership.objects.get_or_create(user=User.objects.get(username=username), practice=practice, role=role)
        practices.append(practice)
    return practices


def seed_people() -> list[User]:
    users = []
    for person in DEMO_PEOPLE:
        user, created = User.objects.update_or_create(
            username=person.username,
            defaults={
                "first_name": person.first_name,
                "last_name": person.last_name,
                "email": person.email,
                "is_staff": person.is_staff,
                "is_superuser": person.is_superuser,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        if person.npi:
            Provider.objects.update_or_create(
                user=user,
                defaults={
                    "display_name": f"Dr. {person.first_name} {person.last_name}",
                    "npi": person.npi,
                    "phone": "(212) 555-0100",
                    "address_line1": "100 Main Street",
                    "city": "New York",
                    "state": "NY",
                    "postal_code": "10001",
                    "date_of_birth": person.date_of_birth,
                },
            )
        users.append(user)
    seed_practices()
    seed_prescribers()
    return users


# --- prescriber credentials, ID.me links and EPCS (permissions helper) -----------------------
# These uuids match DEMO_ALICE_UUID / DEMO_BRIAN_UUID in idme_sandbox/demo.py (the demo ID.me
# accounts alice.smith@example.test and brian.jones@example.test). EHR code may not import the
# sandbox, so the constants are repeated here; keep them in step.
DEMO_IDME_UUIDS = {
    "dr.smith": "5e0d1c2b3a4f4e5d8c7b6a5f4e3d2c1b",
    "dr.jones": "6f1e2d3c4b5a4f6e9d8c7b6a5f4e3d2c",
    "dr.patel": "9c4b5a6f7e8d4c9b8a1f2e3d4c5b6a7f",
}


@dataclass(frozen=True)
class DemoCredentials:
    username: str
    dea_number: str
    dea_state: str
    license_state: str
    license_number: str
    medicaid_id: str
    # The access manager recorded as having verified them: one of a practice the prescriber is in.
    verifier: str = "manager.lee"
    # The schedules at the DEA registry's demo record (and on the registration).
    schedules: frozenset[Schedule] = frozenset(Schedule)


DEMO_CREDENTIALS = (
    DemoCredentials("dr.smith", "AS1234563", "NY", "NY", "312456", "NY10004521"),
    DemoCredentials("dr.jones", "BJ1234563", "NY", "NY", "298731", "NY10007788"),
    DemoCredentials(
        "dr.patel",
        "FP1357929",
        "NY",
        "NY",
        "287654",
        "NY10009931",
        verifier="manager.ortiz",
        schedules=frozenset({Schedule.III, Schedule.IIIN, Schedule.IV, Schedule.V}),
    ),
)


def demo_registration_expiry(today: dt.date) -> dt.date:
    """31 December two years after this year: the same rule as the DEA registry simulator's
    demo data (idme_sandbox/dea_registry/demo.py), so the two agree."""
    return dt.date(today.year + 2, 12, 31)


def demo_registry_answer(item: DemoCredentials, person: DemoPerson, today: dt.date) -> RegistryRecord:
    """What the sandbox's DEA registry answers for a demo prescriber's number (its documented
    demo data: active, all schedules, practitioner). Repeated here because EHR code may not
    import the sandbox; tests/providers/test_dea_verification.py checks the two agree."""
    return RegistryRecord(
        dea_number=item.dea_number,
        registrant_name=f"{person.last_name}, {person.first_name}",
        registrant_last_name=person.last_name,
        registrant_first_name=person.first_name,
        business_activity=BusinessActivity.PRACTITIONER,
        schedules=item.schedules,
        state=item.dea_state,
        expires_on=demo_registration_expiry(today),
        status=RegistryStatus.ACTIVE,
        checked_at=timezone.now(),
    )


def _schedule_flags(schedules: frozenset[Schedule]) -> dict[str, bool]:
    codes = {Schedule.II: "schedule_2", Schedule.IIN: "schedule_2n", Schedule.III: "schedule_3"}
    codes |= {Schedule.IIIN: "schedule_3n", Schedule.IV: "schedule_4", Schedule.V: "schedule_5"}
    return {flag: schedule in schedules for schedule, flag in codes.items()}


def seed_credentials() -> None:
    """DEA registrations, state licenses, Medicaid ids and the ID.me links (IAL2) of dr.smith,
    dr.jones and dr.patel. Each is recorded as verified by an access manager of a practice the
    prescriber works in (manager.lee; manager.ortiz for dr.patel) against the DEA registry's demo
    answer and at the state board (seeded: the server may not be running while seeding, and the
    audit trail says "seeded"). Credentials are the person's: verified once, they count in every
    practice the prescriber works in."""

    today = timezone.localdate()
    expires_on = demo_registration_expiry(today)
    people = {person.username: person for person in DEMO_PEOPLE}
    for item in DEMO_CREDENTIALS:
        manager = User.objects.get(username=item.verifier)
        provider = Provider.objects.get(user__username=item.username)
        registration, created = DeaRegistration.objects.get_or_create(
            number=item.dea_number,
            defaults={
                "provider": provider,
                "state": item.dea_state,
                "expires_on": expires_on,
                **_schedule_flags(item.schedules),
            },
        )
        if not created and registration.revoked_at is None and registration.expires_on != expires_on:
            registration.expires_on = expires_on
            registration.save(update_fields=["expires_on"])
        if registration.revoked_at is None and not registration_is_verified(registration):
            record_dea_verification(
                actor=manager,
                registration=registration,
                answer=demo_registry_answer(item, people[item.username], today),
                seeded=True,
            )
        license_, _ = StateLicense.objects.get_or_create(
            provider=provider,
            state=item.license_state,
            number=item.license_number,
            defaults={"expires_on": expires_on},
        )
        if license_.expires_on > today and not license_is_verified(license_):
            verify_state_license(
                actor=manager,
                license_=license_,
                source="Seeded demo data (no state board was asked)",
                reference=f"DEMO-{item.license_state}-{item.license_number}",
            )
        changed = []
        if provider.medicaid_id != item.medicaid_id:
            provider.medicaid_id = item.medicaid_id
            changed.append("medicaid_id")
        uuid = DEMO_IDME_UUIDS[item.username]
        if provider.idme_uuid != uuid or not provider.identity_confirmed:
            provider.idme_uuid = uuid
            provider.identity_ial = IdentityAssurance.IAL2
            provider.identity_aal = "2"
            provider.identity_verified_at = timezone.now()
            changed += ["idme_uuid", "identity_ial", "identity_aal", "identity_verified_at"]
        if changed:
            provider.save(update_fields=changed)
        erx_cache.bump_section(erx_cache.CREDENTIALS, provider.pk)


@dataclass(frozen=True)
class DemoGrant:
    """An EPCS permission in a practice: entered by one of its access managers, approved by a DEA
    registrant of the same practice; `dea_number`: the registration named for that practice."""

    practice: str
    prescriber: str
    entered_by: str
    approved_by: str
    dea_number: str | None = None


DEMO_GRANTS = (
    # EHR Demo Practice: dr.smith may sign; dr.jones and dr.carter have no permission there.
    DemoGrant("EHR Demo Practice", "dr.smith", "manager.lee", "dr.jones"),
    # Riverside: dr.patel with her own FP1357929; dr.jones (the locum) may sign here only.
    DemoGrant("Riverside Family Medicine", "dr.patel", "manager.ortiz", "dr.jones", "FP1357929"),
    DemoGrant("Riverside Family Medicine", "dr.jones", "manager.ortiz", "dr.patel"),
)


def seed_epcs_permission() -> None:
    """The demo EPCS permissions, per practice (DEMO_GRANTS), recorded as seeded demo data
    ({"seeded": true} in the practice's audit chain; no 2FA is claimed). Each is left alone once
    it exists, so a demo revocation is not undone by seeding again."""
    for grant in DEMO_GRANTS:
        practice = Practice.objects.get(name=grant.practice)
        provider = Provider.objects.get(user__username=grant.prescriber)
        if EpcsPermission.objects.filter(provider=provider, practice=practice).exists():
            continue
        seed_granted_permission(
            provider=provider,
            practice=practice,
            entered_by=User.objects.get(username=grant.entered_by),
            approved_by=User.objects.get(username=grant.approved_by),
            registration=DeaRegistration.objects.get(number=grant.dea_number) if grant.dea_number else None,
        )


def seed_granted_permission(
    *,
    provider: Provider,
    practice: Practice,
    entered_by: User,
    approved_by: User,
    registration: DeaRegistration | None = None,
) -> bool:
    """Demo only: record a granted permission as seeded data. No 2FA happened, and the
    request and the audit trail say so ({"seeded": true}, no challenge id).

    It skips the two-person rule, so it refuses to run outside development (DEBUG) and the
    tests: a production deployment cannot grant EPCS through it.
    """
    if not (settings.DEBUG or settings.TESTING):
        raise ImproperlyConfigured(
            "seed_granted_permission grants EPCS without the two-person rule; it runs only in "
            "development (DJANGO_DEBUG=1) or in the tests (EHR_TESTING=1)."
        )
    with transaction.atomic():
        permission, _ = EpcsPermission.objects.get_or_create(provider=provider, practice=practice)
        permission = EpcsPermission.objects.select_for_update().get(pk=permission.pk)
        if permission.is_granted:
            return False
        now = timezone.now()
        permission_request = EpcsPermissionRequest.objects.create(
            provider=provider,
            practice=practice,
            registration=registration,
            action=EpcsRequestAction.GRANT,
            note="Seeded demo data",
            entered_by=entered_by,
            approved_by=approved_by,
            status=EpcsRequestStatus.APPROVED,
            decided_by=approved_by,
            decided_at=now,
            decision_reason="Seeded demo data: no 2FA took place",
        )
        permission.state = EpcsPermissionState.GRANTED
        permission.registration = registration
        permission.entered_by = entered_by
        permission.approved_by = approved_by
        permission.requested_at = now
        permission.granted_at = now
        permission.revoked_at = None
        permission.revoked_reason = ""
        permission.save()
        erx_cache.bump_section(erx_cache.EPCS, provider.pk)
        audit.record(
            "epcs.permission_granted",
            actor=None,
            target=permission,
            chain=practice,
            details={
                "seeded": True,
                "provider_id": provider.pk,
                "practice_id": practice.pk,
                "registration": registration.number if registration else None,
                "request_id": permission_request.pk,
                "entered_by": entered_by.get_username(),
                "approved_by": approved_by.get_username(),
            },
        )
    return True


def seed_prescribers() -> None:
    seed_credentials()
    seed_epcs_permission()
