"""Demo data of the DEA registry simulator (listed in the README and docs/dea-registry.md).

The demo prescribers' numbers (dr.smith AS1234563, dr.jones BJ1234563) are active with all
schedules; three more numbers show the refusals: one expired, one revoked, one without
Schedule II. Every number passes the DEA check-digit rule. The EHR's demo seed
(providers/demo.py) repeats the two prescribers' answers, since it may not import the sandbox;
keep them in step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from idme_sandbox.dea_registry.models import BusinessActivity, DeaRegistryRecord, RegistryStatus
from idme_sandbox.dea_registry.services import register_subscriber

ALL_SCHEDULES = "2,2N,3,3N,4,5"
DEMO_SUBSCRIBER_NAME = "EHR Demo Practice"


def demo_expiry(today: dt.date) -> dt.date:
    """Current demo registrations expire on 31 December two years after this year."""
    return dt.date(today.year + 2, 12, 31)


@dataclass(frozen=True)
class DemoRegistration:
    number: str
    last_name: str
    first_name: str
    state: str
    schedules: str
    status: str
    expired: bool = False


DEMO_REGISTRATIONS = (
    DemoRegistration("AS1234563", "Smith", "Alice", "NY", ALL_SCHEDULES, RegistryStatus.ACTIVE),
    DemoRegistration("BJ1234563", "Jones", "Brian", "NY", ALL_SCHEDULES, RegistryStatus.ACTIVE),
    DemoRegistration("AW7654329", "Walker", "Grace", "NY", ALL_SCHEDULES, RegistryStatus.EXPIRED, expired=True),
    DemoRegistration("BR2468014", "Reyes", "Daniel", "NJ", ALL_SCHEDULES, RegistryStatus.REVOKED),
    DemoRegistration("FP1357929", "Patel", "Priya", "NY", "3,3N,4,5", RegistryStatus.ACTIVE),
)


def seed_demo_registry(api_key: str | None = None) -> list[DeaRegistryRecord]:
    """Create or refresh the demo registrations (idempotent); register `api_key` as the demo subscriber."""
    today = timezone.localdate()
    records = []
    with transaction.atomic():
        for demo in DEMO_REGISTRATIONS:
            expires_on = dt.date(today.year - 1, 6, 30) if demo.expired else demo_expiry(today)
            record, _ = DeaRegistryRecord.objects.update_or_create(
                dea_number=demo.number,
                defaults={
                    "registrant_last_name": demo.last_name,
                    "registrant_first_name": demo.first_name,
                    "business_activity": BusinessActivity.PRACTITIONER,
                    "schedules": demo.schedules,
                    "state": demo.state,
                    "expires_on": expires_on,
                    "status": demo.status,
                },
            )
            records.append(record)
        if api_key:
            register_subscriber(DEMO_SUBSCRIBER_NAME, api_key)
    return records
