"""The Security tab's extension points: sections other apps add, and the end of a person's
API credentials.

providers never names the apps above it (tests/ehr/test_import_direction.py): an app that
keeps API credentials (api_access) registers a section of the Security tab from its
AppConfig.ready(), and listens to `api_credentials_must_end`, which providers sends when a
password change or "Sign out all other sessions" must end them (the person did not tick
"Keep my API tokens").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from django.dispatch import Signal
from django.http import HttpRequest


class CredentialsEndReason(StrEnum):
    PASSWORD_CHANGED = "password_changed"
    OTHER_SESSIONS_ENDED = "other_sessions_ended"


# Sent with user=<User>, request=<HttpRequest>, reason=<CredentialsEndReason>.
api_credentials_must_end = Signal()


@dataclass(frozen=True)
class SecuritySection:
    name: str
    # The section's HTML for the signed-in person (a rendered template).
    render: Callable[[HttpRequest], str]
    order: int = 100


_SECTIONS: dict[str, SecuritySection] = {}


def register_section(section: SecuritySection) -> None:
    """Add (or replace, by name) a section below the tab's own ones."""
    _SECTIONS[section.name] = section


def registered_sections() -> list[SecuritySection]:
    return sorted(_SECTIONS.values(), key=lambda section: (section.order, section.name))


def end_api_credentials(request: HttpRequest, user: object, reason: CredentialsEndReason) -> None:
    api_credentials_must_end.send(sender=CredentialsEndReason, user=user, request=request, reason=reason)
