"""GET /api/v1/prescriptions/: filters (state, patient, created dates, controlled) and cursor
pagination (eprescribe.api_filters)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from eprescribe.models import Prescription
from tests.eprescribe.conftest import RxWorld


def ids(client: Client, query: str = "") -> list[int]:
    response = client.get(f"/api/v1/prescriptions/{query}")
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def backdate(rx: Prescription, days: int) -> None:
    Prescription.objects.filter(pk=rx.pk).update(created_at=timezone.now() - dt.timedelta(days=days))


@pytest.mark.req("ASVS-06")
def test_filters_narrow_the_callers_own_prescriptions(rx: RxWorld, clinician_client: Client) -> None:
    draft = rx.draft()
    ready = rx.ready(medication=rx.alprazolam)
    other_patient = rx.draft(patient=rx.other_patient)
    antibiotic = rx.draft(medication=rx.amoxicillin, refills=1)
    backdate(other_patient, 10)
    assert set(ids(clinician_client)) == {draft.pk, ready.pk, other_patient.pk, antibiotic.pk}
    assert ids(clinician_client, "?state=ready") == [ready.pk]
    both = {draft.pk, ready.pk, other_patient.pk, antibiotic.pk}
    assert set(ids(clinician_client, "?state=ready&state=draft")) == both
    assert ids(clinician_client, f"?patient={rx.other_patient.pk}") == [other_patient.pk]
    assert ids(clinician_client, "?controlled=false") == [antibiotic.pk]
    assert antibiotic.pk not in ids(clinician_client, "?controlled=true")
    today = timezone.localdate()
    assert other_patient.pk not in ids(clinician_client, f"?created_after={today - dt.timedelta(days=1)}")
    assert ids(clinician_client, f"?created_before={today - dt.timedelta(days=5)}") == [other_patient.pk]


@pytest.mark.req("ASVS-10")
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?state=approved", "state"),
        ("?patient=abc", "patient"),
        ("?created_after=yesterday", "created_after"),
        ("?controlled=maybe", "controlled"),
        ("?created_after=2026-02-02&created_before=2026-01-01", "created_before"),
        ("?page_size=null", "page_size"),
        ("?page_size=0", "page_size"),
        ("?page_size=101", "page_size"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_parameter(
    rx: RxWorld, clinician_client: Client, query: str, field: str
) -> None:
    response = clinician_client.get(f"/api/v1/prescriptions/{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in {error["attr"] for error in response.json()["errors"]}


def test_cursor_pagination_walks_every_prescription_once_newest_first(rx: RxWorld, clinician_client: Client) -> None:
    made = [rx.draft(quantity=10 + n) for n in range(5)]
    seen: list[int] = []
    url: Any = "/api/v1/prescriptions/?page_size=2"
    pages = 0
    while url:
        body = clinician_client.get(url).json()
        assert len(body["results"]) <= 2
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
        pages += 1
    assert pages == 3
    assert seen == [p.pk for p in reversed(made)]
    assert clinician_client.get("/api/v1/prescriptions/?cursor=garbage").status_code == 404
