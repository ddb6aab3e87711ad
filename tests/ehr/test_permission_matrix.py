"""The permission matrix (issue 10, ASVS-11): each role of a practice x each page and API
endpoint, on the practice's own objects and on another practice's.

The world is the demo seed (`seed_demo`): the roles are Riverside Family Medicine's people
(dr.patel prescriber, nurse.kim agent, manager.ortiz access manager, auditor.wu auditor,
admin.reyes practice admin); "the other practice" is EHR Demo Practice (dr.smith's patients and
prescriptions, dr.carter's identity review, manager.lee's EPCS request and notice, its incident
report). Each role's row of the matrix is compared as a whole, so a failure lists every cell that
differs. Every request is a GET (pages and API reads) or a POST with an empty body (changes); a
POST that is refused changes nothing, which the tests check by comparing the rows' state.

The matrix says, for each page, the status each role gets. The cross-practice rule is the
same for every role and endpoint: another practice's object is answered exactly like an id that
does not exist at all — 404, or 403 when the person's role may not use that endpoint for any
object (the refusal names the role, never the object) — so nothing tells that it exists.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent, IncidentReport
from audit.services import generate_incident_report
from eprescribe.models import Patient, Prescription
from providers.models import (
    DeaRegistration,
    EpcsAccessNotice,
    EpcsPermissionRequest,
    EpcsRequestAction,
    IdentityMismatch,
    Practice,
    Provider,
    StateLicense,
    User,
)
from tests.conftest import login_through_form

DEMO_PASSWORD = "Demo-EHR-2026"
ROLES = ("dr.patel", "nurse.kim", "manager.ortiz", "auditor.wu", "admin.reyes")


@dataclass
class World:
    own: dict[str, int]
    other: dict[str, int]


def _objects_of(practice: Practice, prescriber: str, access_manager: str, reviewed: str) -> dict[str, int]:
    """One object of each practice-owned (or practice-member) kind, made the way the rows are."""
    provider = Provider.objects.get(user__username=prescriber)
    rx = Prescription.objects.filter(practice=practice, prescriber=provider).order_by("pk").first()
    assert rx is not None
    manager = User.objects.get(username=access_manager)
    reviewed_provider = Provider.objects.get(user__username=reviewed)
    request = EpcsPermissionRequest.objects.create(
        provider=reviewed_provider, practice=practice, action=EpcsRequestAction.GRANT, entered_by=manager
    )
    notice = EpcsAccessNotice.objects.create(provider=reviewed_provider, practice=practice, message="A lost device")
    mismatch = IdentityMismatch.objects.create(
        provider=reviewed_provider,
        differences=["last_name"],
        idme_uuid=f"uuid-{reviewed}",
        idme_fname="A",
        idme_lname="B",
        idme_ial=2,
        idme_aal=2,
    )
    report = generate_incident_report(timezone.localdate() - dt.timedelta(days=1), practice.pk)
    return {
        "patient": Patient.objects.filter(practice=practice).order_by("pk").first().pk,  # type: ignore[union-attr]
        "rx": rx.pk,
        "request": request.pk,
        "notice": notice.pk,
        "mismatch": mismatch.pk,
        "dea": DeaRegistration.objects.filter(provider=provider).order_by("pk").first().pk,  # type: ignore[union-attr]
        "license": StateLicense.objects.filter(provider=provider).order_by("pk").first().pk,  # type: ignore[union-attr]
        "report": report.pk,
        "event": AuditEvent.objects.filter(chain_id=practice.pk).order_by("pk").first().pk,  # type: ignore[union-attr]
    }


@pytest.fixture
def world(transactional_db: None) -> World:
    call_command("seed_demo", verbosity=0)
    riverside = Practice.objects.get(name="Riverside Family Medicine")
    demo = Practice.objects.get(name="EHR Demo Practice")
    return World(
        own=_objects_of(riverside, "dr.patel", "manager.ortiz", "dr.patel"),
        other=_objects_of(demo, "dr.smith", "manager.lee", "dr.carter"),
    )


# (method, url template): the pages and API endpoints that name an object of a practice (or a
# person of it). {rx}, {request} ... are filled with the own or the other practice's ids.
OBJECT_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("GET", "/eprescribe/{rx}/"),
    ("GET", "/eprescribe/{rx}/edit/"),
    ("POST", "/eprescribe/{rx}/ready/"),
    ("POST", "/eprescribe/{rx}/cancel/"),
    ("POST", "/eprescribe/{rx}/retry/"),
    ("GET", "/eprescribe/{rx}/print/"),
    ("GET", "/api/v1/prescriptions/{rx}/"),
    ("POST", "/api/v1/prescriptions/{rx}/cancel/"),
    ("POST", "/api/v1/prescriptions/{rx}/ready/"),
    ("POST", "/account/epcs-permissions/requests/{request}/approve/"),
    ("POST", "/account/epcs-permissions/requests/{request}/reject/"),
    ("POST", "/account/epcs-permissions/requests/{request}/cancel/"),
    ("POST", "/account/epcs-permissions/notices/{notice}/dismiss/"),
    ("GET", "/api/v1/epcs/requests/{request}/"),
    ("POST", "/api/v1/epcs/requests/{request}/cancel/"),
    ("POST", "/api/v1/epcs/requests/{request}/reject/"),
    ("POST", "/account/identity-reviews/{mismatch}/confirm/"),
    ("POST", "/account/identity-reviews/{mismatch}/reject/"),
    ("POST", "/account/credential-verification/dea/{dea}/verify/"),
    ("POST", "/account/credential-verification/licenses/{license}/verify/"),
    ("GET", "/account/audit/reports/{report}/"),
    ("GET", "/api/v1/audit-events/{event}/"),
    ("GET", "/api/v1/incident-reports/{report}/"),
    ("GET", "/api/v1/credentials/dea-registrations/{dea}/"),
    ("GET", "/api/v1/credentials/state-licenses/{license}/"),
    ("POST", "/api/v1/credentials/dea-registrations/{dea}/verify/"),
    ("POST", "/api/v1/credentials/state-licenses/{license}/verify/"),
)

# Pages and API reads that name no object: what each role gets, in ROLES order
# (prescriber, agent, access manager, auditor, practice admin).
PAGES: dict[str, tuple[int, ...]] = {
    "/account/provider-settings/erx-info/": (200, 200, 200, 200, 200),
    "/eprescribe/": (200, 200, 200, 200, 200),
    "/eprescribe/new/": (200, 200, 302, 302, 302),  # only prescribers and agents prepare
    "/account/epcs-permissions/": (200, 200, 200, 200, 200),
    "/account/credential-verification/": (403, 403, 200, 403, 403),
    "/account/identity-reviews/": (403, 403, 200, 403, 403),
    "/account/audit/": (403, 403, 200, 200, 403),
    "/admin/": (302, 302, 302, 302, 200),
    "/api/v1/prescriptions/": (200, 200, 200, 200, 200),
    "/api/v1/epcs/requests/": (200, 200, 200, 200, 200),
    "/api/v1/epcs/permissions/": (200, 200, 200, 200, 200),
    "/api/v1/me/": (200, 200, 200, 200, 200),
    "/api/v1/audit-events/": (403, 403, 200, 200, 403),
    "/api/v1/incident-reports/": (403, 403, 200, 200, 403),
    "/api/v1/credentials/unverified/": (403, 403, 200, 403, 403),
}


def _signed_in(username: str) -> Client:
    client = Client()
    response = login_through_form(client, username, DEMO_PASSWORD)
    assert response.status_code == 302, f"{username} could not sign in"
    return client


# A well-formed body where an endpoint needs one, so the answer is about the object, not the body.
API_BODIES: dict[str, str] = {
    "/api/v1/credentials/state-licenses/{license}/verify/": json.dumps(
        {"source": "State board online lookup", "reference": "LIC-1"}
    ),
}


def _call(client: Client, method: str, template: str, ids: dict[str, int]) -> int:
    url = template.format(**ids)
    if method == "GET":
        return int(client.get(url).status_code)
    if url.startswith("/api/"):  # the API reads JSON bodies only
        body = API_BODIES.get(template, "{}")
        return int(client.post(url, body, content_type="application/json").status_code)
    return int(client.post(url, {}).status_code)


def _state() -> list[Any]:
    """What a refused change must leave as it was."""
    return [
        list(Prescription.objects.order_by("pk").values_list("pk", "state", "practice_id")),
        list(EpcsPermissionRequest.objects.order_by("pk").values_list("pk", "status")),
        list(EpcsAccessNotice.objects.order_by("pk").values_list("pk", "dismissed_at")),
        list(IdentityMismatch.objects.order_by("pk").values_list("pk", "status")),
        list(DeaRegistration.objects.order_by("pk").values_list("pk", "verified_at")),
        list(StateLicense.objects.order_by("pk").values_list("pk", "verified_at")),
        IncidentReport.objects.count(),
    ]


NO_SUCH_ID = {
    key: 999_999 for key in ("patient", "rx", "request", "notice", "mismatch", "dea", "license", "report", "event")
}


@pytest.mark.req("ASVS-11")
@pytest.mark.parametrize("username", ROLES)
def test_every_role_gets_for_another_practices_objects_what_it_gets_for_ids_that_do_not_exist(
    world: World, username: str
) -> None:
    client = _signed_in(username)
    before = _state()
    answers = {
        f"{method} {template}": _call(client, method, template, world.other) for method, template in OBJECT_ENDPOINTS
    }
    missing = {
        f"{method} {template}": _call(client, method, template, NO_SUCH_ID) for method, template in OBJECT_ENDPOINTS
    }
    assert answers == missing
    assert set(answers.values()) <= {403, 404}
    assert _state() == before


@pytest.mark.req("ASVS-11")
def test_a_role_that_may_use_an_endpoint_gets_404_for_another_practices_object(world: World) -> None:
    """The access manager may use every access manager endpoint and the audit reports, and the
    prescriber every prescription endpoint: for another practice's objects both get 404."""
    manager, prescriber = _signed_in("manager.ortiz"), _signed_in("dr.patel")
    for method, template in OBJECT_ENDPOINTS:
        # A person's own credentials (GET) and prescriptions are the prescriber's; the rest the manager's.
        own_kind = "{rx}" in template or (method == "GET" and "/api/v1/credentials/" in template)
        client = prescriber if own_kind else manager
        assert _call(client, method, template, world.other) == 404, f"{method} {template}"


@pytest.mark.req("ASVS-11")
@pytest.mark.parametrize("column", range(len(ROLES)), ids=ROLES)
def test_each_role_gets_what_the_matrix_says_on_its_own_practices_pages(world: World, column: int) -> None:
    client = _signed_in(ROLES[column])
    answers = {url: int(client.get(url).status_code) for url in PAGES}
    assert answers == {url: statuses[column] for url, statuses in PAGES.items()}
