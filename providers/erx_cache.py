"""eRx Info sections rendered from cached fragments (docs/performance.md, "eRx Info").

Each section's HTML is cached for its name, the provider, the section's version and
everything else that changes the output: the provider row as loaded for this request, the
viewer, the language and time zone, and the section's per-request values (`live`). A write
to a section's data bumps the version in the one service that does the write
(`bump_section`), so the next view renders afresh.

What is never cached: CSRF tokens (fragments are rendered with a placeholder input that is
swapped for the request's own token), Django messages and the "stale mirror -> queue a
background sync" step (a section's `live` function runs on every view and its values are
part of the key).

Versions live in the Django cache (Redis in production, the file cache in the embedded
default). A missing version starts a fresh random one, so a fragment rendered under a version
that was evicted is never read again. Each section of each provider has one cache entry: the
fragment and the digest of what it was rendered for (names, versions, provider row, viewer,
language, time zone, per-view values); a view whose digest differs renders and replaces it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from weakref import WeakKeyDictionary

from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

from providers.models import Provider

Build = Callable[[HttpRequest, Provider], dict[str, Any]]
Live = Callable[[HttpRequest, Provider], dict[str, Any]]

# Section names (stable: they are part of cache keys and of the bump calls in services; each
# is the `name` of the ErxSection its app registers in providers.erx_info).
IDENTITY = "identity"
DEVICES = "devices"
CREDENTIALS = "credentials"
EPCS = "epcs"

FRAGMENT_TIMEOUT = 6 * 60 * 60  # seconds; a fragment is also replaced whenever its version moves on
VERSION_TIMEOUT = 30 * 24 * 60 * 60
KEY_PREFIX = "erx-info"

# What `{% csrf_token %}` prints for the placeholder, and the token it stands for. Section
# data is escaped, so this tag can only come from a template.
_CSRF_PLACEHOLDER = "erx-info-csrf-placeholder"
_CSRF_INPUT = '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'


def _version_key(name: str, provider_id: int) -> str:
    return f"{KEY_PREFIX}:version:{name}:{provider_id}"


def section_versions(names: Iterable[str], provider_id: int) -> dict[str, str]:
    """The current version of each named section of this provider (one cache round trip)."""
    keys = {_version_key(name, provider_id): name for name in names}
    found = cache.get_many(list(keys))
    versions = {keys[key]: str(value) for key, value in found.items()}
    for key, name in keys.items():
        if name not in versions:
            # Two first readers may race: `add` keeps the first one's version. If the cache
            # dropped it at once, this view uses a version nobody else will ever read.
            fresh = secrets.token_hex(8)
            cache.add(key, fresh, VERSION_TIMEOUT)
            versions[name] = str(cache.get(key) or fresh)
    return versions


def section_version(name: str, provider_id: int) -> str:
    return section_versions((name,), provider_id)[name]


# The versions one view read, per request: the eRx Info tab reads every registered section's
# version in one round trip, before any section reads its data.
_read_in_view: WeakKeyDictionary[HttpRequest, dict[tuple[str, int], str]] = WeakKeyDictionary()


def read_versions_for_view(request: HttpRequest, names: Iterable[str], provider_id: int) -> dict[str, str]:
    """The versions of the named sections as this view sees them: read once per view (those
    not read yet in one round trip), then the same for every section that shows them."""
    names = tuple(names)
    read = _read_in_view.setdefault(request, {})
    unread = [name for name in names if (name, provider_id) not in read]
    if unread:
        for name, version in section_versions(unread, provider_id).items():
            read[(name, provider_id)] = version
    return {name: read[(name, provider_id)] for name in names}


def _bump_now(name: str, provider_id: int) -> None:
    cache.set(_version_key(name, provider_id), secrets.token_hex(8), VERSION_TIMEOUT)


def bump_section(name: str, provider_id: int) -> None:
    """The section's data of this provider changed: its cached fragments are no longer used.

    Bumped at once (so views inside the writing transaction, and tests that never commit, see
    the change) and again after commit: a view that read the old data while the write was
    still uncommitted cached it under the first new version, which the second bump retires.
    A rolled-back write costs one re-render, never a wrong page.
    """
    _bump_now(name, provider_id)
    transaction.on_commit(lambda: _bump_now(name, provider_id), robust=True)


def _provider_fingerprint(provider: Provider) -> list[tuple[str, Any]]:
    """The provider row as loaded for this request: a change made anywhere shows at once."""
    return [(field.attname, getattr(provider, field.attname)) for field in provider._meta.concrete_fields]


def fragment_digest(
    request: HttpRequest, provider: Provider, name: str, versions: Mapping[str, str], live: Mapping[str, Any]
) -> str:
    """Everything the fragment's HTML depends on, hashed."""
    user = getattr(request, "user", None)
    parts = (
        name,
        provider.pk,
        sorted(versions.items()),
        _provider_fingerprint(provider),
        getattr(user, "pk", None),
        translation.get_language(),
        timezone.get_current_timezone_name(),
        sorted(live.items()),
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def render_section(
    request: HttpRequest,
    provider: Provider,
    name: str,
    template: str,
    build: Build,
    *,
    live: Live | None = None,
    depends_on: Iterable[str] = (),
) -> SafeString:
    """One eRx Info section as HTML, from the cache when nothing it shows has changed.

    `build` makes the section's context (only when the fragment is not cached); `live`, if
    given, runs on every view for what must happen or be read each time (its values join the
    context and the cache key); `depends_on` names other sections whose writes also change
    this one's output.
    """
    # Versions first, then data: a write that commits after this read bumps past it.
    versions = read_versions_for_view(request, (name, *depends_on), provider.pk)
    live_values = live(request, provider) if live is not None else {}
    digest = fragment_digest(request, provider, name, versions, live_values)
    # One entry per section and provider, holding the digest it was rendered for: a new
    # version replaces the old fragment instead of leaving it behind until it expires.
    key = f"{KEY_PREFIX}:fragment:{name}:{provider.pk}"
    cached = cache.get(key)
    if isinstance(cached, tuple) and len(cached) == 2 and cached[0] == digest:
        html = cached[1]
    else:
        context = {**build(request, provider), **live_values}
        # Rendered without the request: nothing per-request (context processors, the
        # request's own token) can slip into the shared fragment.
        html = render_to_string(template, {"section": context, "csrf_token": _CSRF_PLACEHOLDER})
        cache.set(key, (digest, html), FRAGMENT_TIMEOUT)
    placeholder = _CSRF_INPUT.format(_CSRF_PLACEHOLDER)
    if placeholder in html:
        html = html.replace(placeholder, _CSRF_INPUT.format(get_token(request)))
    # Rendered by our templates (data escaped there); the token is Django's own.
    return mark_safe(html)  # noqa: S308
