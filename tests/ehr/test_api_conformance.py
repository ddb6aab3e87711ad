"""The REST API conforms to its own published schema (ASVS-10; docs/api.md).

schemathesis reads `/api/v1/schema/` from the running app (in-process, over WSGI) and sends
generated requests to every operation, valid and invalid ones, as a demo prescriber
(dr.smith with the demo's patients, prescriptions, registration and EPCS permission, linked
to an ID.me sandbox account with a Code Generator device; the sandbox runs on the live
server). Every response is checked with all of schemathesis's checks: not a server error,
the status code is documented, the body and headers match the documented schema (problem
details for every error, Retry-After on 429), the content type is the documented one,
invalid input is refused, credentials are enforced, undocumented methods are 405, and the rest.

Bounded: a fixed seed (derandomized), at most `MAX_EXAMPLES` generated cases per operation
and generation mode, no example database between runs, no shrinking.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings

from api_access.models import TOKEN_PREFIX, PersonalAccessToken, token_digest
from ehr.api_scopes import SCOPES
from ehr.wsgi import application
from epcs_access.services import enter_request
from eprescribe.models import Prescription
from mfa.models import ProviderDevice
from mfa.services import sync_devices
from providers.demo import seed_credentials, seed_epcs_permission, seed_people
from providers.models import EpcsRequestAction, Practice, Provider, User
from tests.idme_fixtures import IdmeSandboxHandle

MAX_EXAMPLES = 10

# The live schema, as the app serves it to anyone; one test item per operation.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
schema.config.generation.update(max_examples=MAX_EXAMPLES)
# A body can be valid by the schema yet name a patient, pharmacy or prescriber that does not
# exist, or break a prescription rule (a controlled drug needs a DEA registration): the API
# answers that with a 400 problem whose `errors` say which field, and the response-schema
# check still holds it to the Problem schema. Every other status stays as schemathesis expects.
schema.config.checks.positive_data_acceptance.expected_statuses = [
    "2xx",
    "3xx",
    "400",
    "401",
    "403",
    "404",
    "409",
    "429",
]


# dr.smith's personal access token in this test (`demo_prescriber_token` stores its digest, as
# api_access.services.create_token does, with every scope). schemathesis sends it as its own
# authentication, so its checks know the credentials are real and may remove them; it builds
# some cases before the fixture runs, hence a secret fixed in advance.
DEMO_TOKEN_KEY = TOKEN_PREFIX + "c0ffee" * 7


@schema.auth(refresh_interval=None)
class DemoPrescriberToken:
    def get(self, case: Any, context: Any) -> str:
        return DEMO_TOKEN_KEY

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


# Ids of dr.smith's own objects (`demo_prescriber_token` fills it): an even generated `id` is
# replaced by one of them, so operations on an object also run on real ones, not only 404s.
REAL_IDS: dict[str, list[int]] = {}


@schema.hook("map_path_parameters")
def real_objects_half_the_time(context: Any, path_parameters: dict[str, Any]) -> dict[str, Any]:
    if not path_parameters:
        return path_parameters
    generated = path_parameters.get("id")
    path = context.operation.path if context.operation else ""
    for prefix, ids in REAL_IDS.items():
        if path.startswith(prefix) and ids and isinstance(generated, int) and generated % 2 == 0:
            return {**path_parameters, "id": ids[generated // 2 % len(ids)]}
    return path_parameters


@pytest.fixture
def wsgi_keeps_the_test_database() -> Iterator[None]:
    """Django closes the database connection at the end of each WSGI request; that would close
    the test's database. Django's own test client disconnects the same handler."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def demo_prescriber_token(
    idme_sandbox_live: IdmeSandboxHandle, settings: Any, wsgi_keeps_the_test_database: None
) -> Iterator[str]:
    """An API token of dr.smith, the demo prescriber (sent by `DemoPrescriberToken`).

    The fuzzer is one user making hundreds of calls a minute: the rate limits are raised for
    this test only (tests/ehr/test_api_errors.py proves them); every call still runs them.
    """
    settings.API_RATE_LIMITS = {scope: "100000/minute" for scope in settings.API_RATE_LIMITS}
    seed_people()
    seed_credentials()
    seed_epcs_permission()
    call_command("seed_eprescribe", stdout=None)
    smith = Provider.objects.select_related("user").get(user__username="dr.smith")
    account = idme_sandbox_live.create_account("alice.smith@example.test", fname="Alice", lname="Smith")
    idme_sandbox_live.add_totp_device(account, "Alice's phone")
    smith.idme_uuid = account.uuid
    smith.save(update_fields=["idme_uuid"])
    sync_devices(smith)
    pending = enter_request(
        actor=User.objects.get(username="manager.lee"),
        practice=Practice.objects.get(name="EHR Demo Practice"),
        provider=smith,
        action=EpcsRequestAction.REVOKE,
        note="Fuzz",
    )
    REAL_IDS.update(
        {
            "/api/v1/prescriptions/": list(Prescription.objects.filter(prescriber=smith).values_list("pk", flat=True)),
            "/api/v1/mfa/devices/": list(ProviderDevice.objects.filter(provider=smith).values_list("pk", flat=True)),
            "/api/v1/epcs/requests/": [pending.pk],
        }
    )
    assert all(REAL_IDS.values())
    PersonalAccessToken.objects.create(
        user=smith.user,
        name="API conformance",
        digest=token_digest(DEMO_TOKEN_KEY),
        hint=DEMO_TOKEN_KEY[: len(TOKEN_PREFIX) + 4],
        scope=" ".join(SCOPES),
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    yield DEMO_TOKEN_KEY
    REAL_IDS.clear()


@pytest.mark.req("ASVS-10")
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=MAX_EXAMPLES,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms_to_the_published_schema(case: Any, demo_prescriber_token: str) -> None:
    case.call_and_validate()
