from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from providers.models import Provider, User


def snapshot() -> tuple[list[Any], list[Any]]:
    users = list(User.objects.order_by("username").values("username", "first_name", "email", "is_staff"))
    providers = list(Provider.objects.order_by("npi").values("display_name", "npi", "user__username"))
    return users, providers


@pytest.mark.django_db(transaction=True)
def test_seed_demo_twice_gives_the_same_data() -> None:
    call_command("seed_demo", verbosity=0)
    first = snapshot()
    call_command("seed_demo", verbosity=0)
    assert snapshot() == first
    assert {u["username"] for u in first[0]} >= {"dr.smith", "dr.jones", "manager.lee", "admin"}
    assert User.objects.get(username="dr.smith").check_password("Demo-EHR-2026")
