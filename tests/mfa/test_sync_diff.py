"""The pure half of a device sync: `mfa.sync_plan.diff(local, remote)` (no database, no ID.me).

Each row: the mirror before (local), what ID.me lists (remote), and the plan expected.
The applying half (writes, audit events, notices) is covered over real HTTP in test_sync_live.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from idme_client import Device
from idme_client.types import DeviceType
from mfa.models import ProviderDevice
from mfa.sync_plan import Rename, diff

ADDED_AT = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC)


def mirror(idme_id: str, name: str, kind: str = "totp", *, primary: bool = False) -> ProviderDevice:
    return ProviderDevice(idme_device_id=idme_id, name=name, kind=kind, added_at=ADDED_AT, is_primary=primary)


def listed(idme_id: str, name: str, kind: DeviceType = "totp") -> Device:
    return Device(id=idme_id, name=name, type=kind, added_at=ADDED_AT)


@dataclass(frozen=True)
class Case:
    local: list[ProviderDevice]
    remote: list[Device]
    added: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    renamed: tuple[Rename, ...] = ()
    removed: tuple[str, ...] = ()
    primary_lost: bool = False
    id: str = field(default="", compare=False)


CASES = [
    Case([], [], id="nothing-anywhere"),
    Case([], [listed("a", "MyiPhone")], added=("MyiPhone",), id="first-device-added"),
    Case(
        [mirror("a", "MyiPhone")],
        [listed("a", "MyiPhone")],
        kept=("a",),
        id="unchanged-device-is-kept-not-renamed",
    ),
    Case(
        [mirror("a", "android"), mirror("b", "MyiPhone", primary=True)],
        [listed("a", "android")],
        kept=("a",),
        removed=("MyiPhone",),
        primary_lost=True,
        id="primary-removed-at-idme",
    ),
    Case(
        [mirror("a", "android", primary=True), mirror("b", "old tablet")],
        [listed("a", "android")],
        kept=("a",),
        removed=("old tablet",),
        id="other-device-removed-primary-stays",
    ),
    Case(
        [mirror("a", "android")],
        [listed("a", "Work phone")],
        kept=("a",),
        renamed=(Rename("a", "android", "Work phone"),),
        id="renamed-at-idme",
    ),
    Case(
        [mirror("a", "")],
        [listed("a", "", "push")],
        kept=("a",),
        renamed=(Rename("a", "Unnamed code generator", "Unnamed push device"),),
        id="unnamed-device-changes-kind",
    ),
    Case(
        [mirror("a", "x" * 100)],
        [listed("a", "x" * 140)],
        kept=("a",),
        id="long-name-cut-to-the-mirror-length-is-not-a-rename",
    ),
    Case(
        [mirror("a", "android", primary=True), mirror("b", "old")],
        [listed("c", "MyiPhone", "push"), listed("a", "Pixel"), listed("d", "")],
        added=("MyiPhone", "Unnamed code generator"),
        kept=("a",),
        renamed=(Rename("a", "android", "Pixel"),),
        removed=("old",),
        id="add-rename-and-remove-at-once",
    ),
    Case(
        [mirror("a", "one"), mirror("b", "two", primary=True)],
        [],
        removed=("one", "two"),
        primary_lost=True,
        id="everything-removed",
    ),
]


@pytest.mark.req("NIST-05")
@pytest.mark.req("NIST-06")
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_diff_plans_the_adds_removes_renames_and_lost_primary(case: Case) -> None:
    plan = diff(case.local, case.remote)
    assert plan.added_labels == case.added
    assert tuple(local.idme_device_id for local, _remote in plan.kept) == case.kept
    assert all(local.idme_device_id == remote.id for local, remote in plan.kept)
    assert plan.renamed == case.renamed
    assert plan.removed_labels == case.removed
    assert plan.primary_lost is case.primary_lost


def test_diff_changes_nothing_it_is_given() -> None:
    local = [mirror("a", "android", primary=True)]
    diff(local, [listed("a", "Pixel", "push")])
    assert (local[0].name, local[0].kind, local[0].is_primary) == ("android", "totp", True)
