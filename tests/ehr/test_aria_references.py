"""Every id an element points at with aria-describedby, aria-labelledby or aria-controls
exists on the page (docs/accessibility.md): help text and errors are read with their field.

Each form page is fetched as a person meets it (GET) and after a round trip with nothing
filled in (POST), so both help-text and error references are checked, in the EHR and in
the ID.me sandbox.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from idme_sandbox.models import Account
from idme_sandbox.session import COOKIE_NAME, write_session
from providers.models import Practice, PracticeRole, User
from tests.conftest import join, login_through_form

REFERENCE_ATTRIBUTES = ("aria-describedby", "aria-labelledby", "aria-controls", "for")


class References(HTMLParser):
    """The page's ids, and every (attribute, id) reference to one."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: Counter[str] = Counter()
        self.references: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids[value] += 1
            elif name in REFERENCE_ATTRIBUTES:
                self.references.extend((tag, name, ref) for ref in value.split())


def broken_references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    problems = [
        f"<{tag} {name}> names missing id {ref!r}" for tag, name, ref in parser.references if ref not in parser.ids
    ]
    problems += [f"id {ident!r} appears {count} times" for ident, count in parser.ids.items() if count > 1]
    return problems


def check(client: Client, url: str, problems: list[str], *, get: bool = True, post: bool = True) -> None:
    """The page as first shown and, for forms, after an empty submission."""
    responses = []
    if get:
        responses.append(("GET", client.get(url)))
    if post:
        responses.append(("POST", client.post(url, {})))
    for method, response in responses:
        assert response.status_code in (200, 400, 403, 409), f"{method} {url}: {response.status_code}"
        problems.extend(f"{method} {url}: {p}" for p in broken_references(response.content.decode()))


@pytest.fixture
def manager_clinician(clinician: User, practice: Practice) -> User:
    """A prescriber who is also the practice's access manager: every form page is theirs."""
    return join(clinician, practice, PracticeRole.ACCESS_MANAGER)


@pytest.fixture
def sandbox_client(db: None) -> Iterator[Client]:
    account = Account(email="pat.doe@example.test", fname="Pat", lname="Doe")
    account.set_password("Sandbox-Password-42")
    account.save()
    response = HttpResponse()
    now = time.time()
    write_session(response, account, password_at=now, mfa_at=now)
    client = Client()
    client.cookies[COOKIE_NAME] = response.cookies[COOKIE_NAME].value
    yield client


def test_every_aria_reference_on_the_ehr_form_pages_exists(manager_clinician: User) -> None:
    anonymous = Client()
    problems: list[str] = []
    check(anonymous, reverse("login"), problems)

    client = Client()
    login_through_form(client, manager_clinician.username)
    for tab in ("profile", "erx-info"):
        check(client, reverse("provider-settings", kwargs={"tab": tab}), problems, post=False)
    for name in ("credentials-dea-add", "credentials-license-add", "eprescribe:new", "reauthenticate"):
        check(client, reverse(name), problems)
    check(client, reverse("epcs-permissions"), problems, post=False)
    check(client, reverse("epcs-enter-request"), problems, get=False)
    check(client, reverse("credential-verification"), problems, post=False)
    check(client, reverse("identity-reviews"), problems, post=False)
    check(client, reverse("eprescribe:prescriptions"), problems, post=False)
    check(client, reverse("mfa:help-change-phone"), problems, post=False)
    assert not problems, "\n".join(problems)


def test_every_aria_reference_on_the_sandbox_form_pages_exists(sandbox_client: Client) -> None:
    problems: list[str] = []
    anonymous = Client()
    for name in ("sign_in", "sign_up", "operator_sign_in"):
        check(anonymous, reverse(f"idme_sandbox:{name}"), problems)
    check(anonymous, reverse("idme_sandbox:phone"), problems, post=False)
    for name in ("setup_code_generator", "setup_phone"):
        check(sandbox_client, reverse(f"idme_sandbox:{name}"), problems)
    check(sandbox_client, reverse("idme_sandbox:setup_push"), problems, post=False)
    for tab in ("security", "profile"):
        check(sandbox_client, reverse("idme_sandbox:account", kwargs={"tab": tab}), problems, post=False)
    assert not problems, "\n".join(problems)
