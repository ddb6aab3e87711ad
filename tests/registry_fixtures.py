"""DEA registry test helpers.

`verified_registration(registration)` records an access manager's verification of a
registration through the same service the Credential Verification page ends in
(`record_dea_verification`), with the registry answer a DEA registry would give for it.
Worlds that need a signer or an approving registrant use it; the registry round trip itself
(client, simulator, mismatches, an unreachable registry) is tested over real HTTP in
tests/providers/test_dea_verification.py and tests/dea_registry_client/.

`dea_registry_live` points DEA_REGISTRY_URL at the simulator mounted on pytest-django's live
server and registers the EHR's API key with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from dea_registry_client import BusinessActivity, RegistryRecord, RegistryStatus, Schedule
from idme_sandbox.dea_registry.models import DeaRegistryRecord
from idme_sandbox.dea_registry.services import register_subscriber
from providers.credentials.services import registrant_last_name
from providers.credentials.verification import SCHEDULE_FLAGS, record_dea_verification
from providers.models import DeaRegistration, Membership, PracticeRole, User

VERIFIER_USERNAME = "registry.verifier"
ALL_SCHEDULE_CODES = tuple(schedule.value for schedule in Schedule)


def registry_verifier(for_user: User | None = None) -> User:
    """An EPCS access manager (no provider, no email) who verifies credentials in tests: an
    access manager of every practice `for_user` works in."""
    user, created = User.objects.get_or_create(
        username=VERIFIER_USERNAME, defaults={"first_name": "Vera", "last_name": "Fier"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if for_user is not None:
        for practice_id in set(Membership.objects.filter(user=for_user).values_list("practice_id", flat=True)):
            Membership.objects.get_or_create(user=user, practice_id=practice_id, role=PracticeRole.ACCESS_MANAGER)
    return user


def registry_answer_for(registration: DeaRegistration, **overrides: Any) -> RegistryRecord:
    """The answer an agreeing DEA registry gives for `registration` (fields overridable)."""
    last = registrant_last_name(registration.provider)
    values: dict[str, Any] = {
        "dea_number": registration.number,
        "registrant_name": last,
        "registrant_last_name": last,
        "registrant_first_name": registration.provider.user.first_name,
        "business_activity": BusinessActivity.PRACTITIONER,
        "schedules": frozenset(code for flag, code, _ in SCHEDULE_FLAGS if getattr(registration, flag)),
        "state": registration.state,
        "expires_on": registration.expires_on,
        "status": RegistryStatus.ACTIVE,
        "checked_at": timezone.now(),
    }
    values.update(overrides)
    return RegistryRecord(**values)


def verified_registration(registration: DeaRegistration, verifier: User | None = None) -> DeaRegistration:
    """Record that an access manager verified `registration` against the DEA registry."""
    return record_dea_verification(
        actor=verifier or registry_verifier(registration.provider.user),
        registration=registration,
        answer=registry_answer_for(registration),
    )


# --- the simulator over real HTTP -------------------------------------------------------
@dataclass
class DeaRegistryHandle:
    base_url: str
    api_key: str

    def add(
        self,
        number: str,
        last_name: str,
        *,
        first_name: str = "",
        state: str = "NJ",
        expires_on: dt.date | None = None,
        schedules: Iterable[str] = ALL_SCHEDULE_CODES,
        status: str = "active",
        business_activity: str = "practitioner",
    ) -> DeaRegistryRecord:
        record, _ = DeaRegistryRecord.objects.update_or_create(
            dea_number=number,
            defaults={
                "registrant_last_name": last_name,
                "registrant_first_name": first_name,
                "state": state,
                "expires_on": expires_on or timezone.localdate() + dt.timedelta(days=365),
                "schedules": ",".join(schedules),
                "status": status,
                "business_activity": business_activity,
            },
        )
        return record

    def add_matching(self, registration: DeaRegistration, **overrides: Any) -> DeaRegistryRecord:
        """A registry record that agrees with `registration` (fields overridable)."""
        answer = registry_answer_for(registration)
        values: dict[str, Any] = {
            "first_name": answer.registrant_first_name,
            "state": answer.state,
            "expires_on": answer.expires_on,
            "schedules": [s.value for s in Schedule if s in answer.schedules],
        }
        values.update(overrides)
        last_name = values.pop("last_name", answer.registrant_last_name)
        return self.add(registration.number, last_name, **values)


@pytest.fixture
def dea_registry_live(live_server: Any, settings: Any) -> DeaRegistryHandle:
    base_url = str(live_server.url) + "/idme-sandbox/dea-registry"
    settings.DEA_REGISTRY_URL = base_url
    api_key = str(settings.DEA_REGISTRY_API_KEY)
    register_subscriber("EHR under test", api_key)
    return DeaRegistryHandle(base_url=base_url, api_key=api_key)
