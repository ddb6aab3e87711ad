"""Practices and the practice a person is working in (issue 10; docs/architecture.md "Practices").

A person belongs to practices through memberships. The practice they work in lives in the
session and is checked against their memberships on every request (`PracticeMiddleware`): a
removed membership drops it at the next request. A person with one practice works in it; with
several (a locum) they choose on the "Choose your practice" page or with the header's switcher.
Audit events recorded during the request go to the current practice's chain (`audit.in_chain`).
A person with no membership works as before, outside any practice (chain of no practice).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

import audit
from providers.models import Membership, Practice

SESSION_KEY = "practice_id"

# Paths where a locum without a chosen practice is not sent to the choice page: sign-in and
# sign-out, the choice itself, the ID.me and MFA round trips, the admin, the API, static files.
NO_CHOICE_PREFIXES = ("/practice/", "/accounts/", "/account/idme/", "/mfa/", "/admin/", "/api/", "/static/")


class PracticeAction(StrEnum):
    """Audit actions of this module."""

    CHOSEN = "practice.chosen"
    DROPPED = "practice.membership_gone"


def memberships_of(user: Any) -> list[Membership]:
    """The person's memberships, every role in every practice (none for a signed-out visitor)."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(Membership.objects.filter(user_id=user.pk).select_related("practice"))


def practices_of(user: Any, memberships: list[Membership] | None = None) -> list[Practice]:
    """The practices the person belongs to, by name, each once (from `memberships` when read)."""
    seen: dict[int, Practice] = {}
    for membership in memberships_of(user) if memberships is None else memberships:
        seen.setdefault(membership.practice_id, membership.practice)
    return sorted(seen.values(), key=lambda practice: practice.name)


def roles_in(user: Any, practice: Practice | None) -> set[str]:
    """The person's roles in a practice (PracticeRole values)."""
    if practice is None or not getattr(user, "is_authenticated", False):
        return set()
    return set(Membership.objects.filter(user_id=user.pk, practice=practice).values_list("role", flat=True))


def _resolve(request: HttpRequest) -> tuple[Practice | None, list[Practice]]:
    """The session's practice, checked against the person's memberships now; a practice they
    no longer belong to is dropped (and audited); with exactly one practice it is that one."""
    memberships = memberships_of(request.user)
    # Kept for the request: the header's role links read them without another query.
    request.memberships = memberships  # type: ignore[attr-defined]
    practices = practices_of(request.user, memberships)
    by_id = {practice.pk: practice for practice in practices}
    chosen = request.session.get(SESSION_KEY)
    if chosen is not None and chosen not in by_id:
        del request.session[SESSION_KEY]
        audit.record(PracticeAction.DROPPED, request=request, chain=chosen, details={"practice_id": chosen})
        chosen = None
    if chosen is None and len(practices) == 1:
        chosen = practices[0].pk
        request.session[SESSION_KEY] = chosen
    return by_id.get(chosen) if chosen is not None else None, practices


def current_practice(request: HttpRequest) -> Practice | None:
    """The practice the request works in (set by PracticeMiddleware), None outside any practice."""
    if hasattr(request, "practice"):
        return request.practice
    practice, _ = _resolve(request)
    return practice


def switch_practice(request: HttpRequest, practice_id: int) -> Practice | None:
    """Work in one of the person's practices from now on; None (nothing changes) when they are
    not a member of it. Audited in the chosen practice's chain."""
    practice = next((p for p in practices_of(request.user) if p.pk == practice_id), None)
    if practice is None:
        return None
    previous = request.session.get(SESSION_KEY)
    request.session[SESSION_KEY] = practice.pk
    request.practice = practice  # type: ignore[attr-defined]
    audit.record(
        PracticeAction.CHOSEN,
        request=request,
        target=practice,
        chain=practice,
        details={"from_practice_id": previous, "to_practice_id": practice.pk},
    )
    return practice


PRACTICE_HEADER = "X-Practice-Id"


def practice_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page that works inside a practice: a signed-in person working in none is sent to the
    "Choose your practice" page (which says so when they belong to no practice)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and current_practice(request) is None:
            return redirect(f"{reverse('choose-practice')}?{urlencode({'next': request.get_full_path()})}")
        return view(request, *args, **kwargs)

    return wrapped


def api_practice(request: Any) -> Practice | None:
    """The practice an API call works in: the session's (a browser), else the one named by the
    `X-Practice-Id` header among the caller's practices, else the caller's only practice. None
    when the header names a practice the caller does not belong to, or a locum names none."""
    practices = practices_of(request.user)
    by_id = {practice.pk: practice for practice in practices}
    header = request.headers.get(PRACTICE_HEADER)
    if header:
        try:
            return by_id.get(int(header))
        except ValueError:
            return None
    session_choice = getattr(getattr(request, "_request", request), "practice", None)
    if session_choice is not None:
        return by_id.get(session_choice.pk)
    return practices[0] if len(practices) == 1 else None


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("home")


class PracticeMiddleware:
    """Sets `request.practice` (checked against the memberships on every request), sends a locum
    who has not chosen yet to the choice page, and records the request's audit events in the
    practice's chain."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            request.practice = None  # type: ignore[attr-defined]
            request.practice_choices = []  # type: ignore[attr-defined]
            return self.get_response(request)
        practice, practices = _resolve(request)
        request.practice = practice  # type: ignore[attr-defined]
        request.practice_choices = practices  # type: ignore[attr-defined]
        if (
            practice is None
            and len(practices) > 1
            and request.method == "GET"
            and not request.path.startswith(NO_CHOICE_PREFIXES)
        ):
            return redirect(f"{reverse('choose-practice')}?{urlencode({'next': request.get_full_path()})}")
        with audit.in_chain(practice):
            return self.get_response(request)


def _roles_of_request(request: HttpRequest, practice: Practice | None) -> set[str]:
    memberships = getattr(request, "memberships", None)
    if memberships is None:
        return roles_in(getattr(request, "user", None), practice)
    return {m.role for m in memberships if practice is not None and m.practice_id == practice.pk}


def practice_context(request: HttpRequest) -> dict[str, Any]:
    """Template context: the current practice and the person's practices (for the switcher)."""
    practice = getattr(request, "practice", None)
    return {
        "current_practice": practice,
        "practice_choices": getattr(request, "practice_choices", []),
        # The person's roles in the current practice (the header's links to the audit page and the admin).
        "practice_roles": _roles_of_request(request, practice),
    }
