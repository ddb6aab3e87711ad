"""Render time of eRx Info with 50 ID.me devices next to a minimal signed-in view.

Usage: python benchmarks/erx_info.py [--requests N]

Runs in-process through Django's test client against a throw-away test database (created
and destroyed here), with the device mirror freshly synced so no background sync is queued.
The minimal signed-in view is another Account Settings tab ("General"): same sign-in,
session and frame, no sections. Prints p50/p95 of each and their ratio (target <= 3x), and,
for context, eRx Info of a provider with no devices (what the other eRx Info sections cost)
and the first view of eRx Info after a write: to the devices section (a device sync; that
section is rendered afresh, the others come from the cache) and to every section (all four
rendered afresh, the worst case).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("EHR_VAR_DIR", tempfile.mkdtemp(prefix="ehr-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ehr.settings")
os.environ.setdefault("EHR_TESTING", "1")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

ERX_INFO = "/account/provider-settings/erx-info/"
MINIMAL = "/account/provider-settings/general/"
PASSWORD = "Bench-Password-2026"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def arrange(devices: int, username: str) -> Client:
    from mfa.models import DeviceSyncState, ProviderDevice
    from providers.models import IdentityAssurance, Provider, User

    user = User.objects.create_user(username, password=PASSWORD, first_name="Bench", last_name="Mark")
    provider = Provider.objects.create(
        user=user,
        display_name="Dr. Bench Mark",
        idme_uuid=username.ljust(32, "0"),
        identity_ial=IdentityAssurance.IAL2,
        identity_verified_at=timezone.now(),
    )
    now = timezone.now()
    ProviderDevice.objects.bulk_create(
        ProviderDevice(
            provider=provider,
            idme_device_id=f"{username}-{n:04d}",
            name=f"Device {n}",
            kind="push" if n % 2 else "totp",
            added_at=now - dt.timedelta(days=n),
            is_primary=n == 0,
        )
        for n in range(devices)
    )
    # Far in the future: the mirror stays fresh for the whole run (no background sync).
    DeviceSyncState.objects.create(provider=provider, last_synced_at=now + dt.timedelta(days=1), last_attempt_at=now)
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def retire_fragments(client: Client, names: tuple[str, ...]) -> None:
    """What a write to these sections does: the next view renders them afresh."""
    from providers import erx_cache
    from providers.models import Provider

    provider = Provider.objects.get(user_id=client.session["_auth_user_id"])
    for name in names:
        erx_cache.bump_section(name, provider.pk)


def timed(client: Client, url: str) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="timed requests per view (default 300)")
    parser.add_argument("--devices", type=int, default=50)
    args = parser.parse_args()

    # No setup_test_environment(): its template instrumentation would dominate the figures.
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        client = arrange(args.devices, "dr.bench")
        empty_client = arrange(0, "dr.empty")
        body = client.get(ERX_INFO).content.decode()
        assert body.count("<tr>") >= args.devices, "eRx Info does not list the devices"
        for _ in range(20):  # warm templates, caches, connections
            timed(client, ERX_INFO)
            timed(client, MINIMAL)
            timed(empty_client, ERX_INFO)
        erx: list[float] = []
        minimal: list[float] = []
        empty: list[float] = []
        after_sync: list[float] = []
        rendered: list[float] = []
        for _ in range(args.requests):  # interleaved, so all see the same machine load
            erx.append(timed(client, ERX_INFO))
            minimal.append(timed(client, MINIMAL))
            empty.append(timed(empty_client, ERX_INFO))
            retire_fragments(client, ("devices",))
            after_sync.append(timed(client, ERX_INFO))
            retire_fragments(client, ("identity", "devices", "credentials", "epcs"))
            rendered.append(timed(client, ERX_INFO))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    rows = [
        (f"eRx Info, {args.devices} devices", erx),
        ("minimal signed-in view (General tab)", minimal),
        ("eRx Info, 0 devices (the other sections)", empty),
        (f"eRx Info, {args.devices} devices, after a device sync", after_sync),
        (f"eRx Info, {args.devices} devices, after writes to all", rendered),
    ]
    print(f"{args.requests} requests each, interleaved; times in ms")
    print(f"{'view':<44} {'p50':>8} {'p95':>8} {'mean':>8}")
    for label, samples in rows:
        p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
        print(f"{label:<44} {p50:8.2f} {p95:8.2f} {statistics.fmean(samples):8.2f}")
    ratio50 = percentile(erx, 0.5) / percentile(minimal, 0.5)
    ratio95 = percentile(erx, 0.95) / percentile(minimal, 0.95)
    verdict = "within" if ratio50 <= 3 else "ABOVE"
    print(f"ratio eRx Info / minimal: p50 {ratio50:.2f}x, p95 {ratio95:.2f}x ({verdict} the 3x target at p50)")
    sync50 = percentile(after_sync, 0.5) / percentile(minimal, 0.5)
    fresh50 = percentile(rendered, 0.5) / percentile(minimal, 0.5)
    print(
        f"for context, first view after a device sync / minimal: p50 {sync50:.2f}x; after writes to all: {fresh50:.2f}x"
    )


if __name__ == "__main__":
    main()
