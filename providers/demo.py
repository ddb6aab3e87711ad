"""Demo people for `manage.py seed_demo`; the README lists the same logins."""

from __future__ import annotations

from dataclasses import dataclass

from providers.models import Provider, User

DEMO_PASSWORD = "Demo-EHR-2026"


@dataclass(frozen=True)
class DemoPerson:
    username: str
    first_name: str
    last_name: str
    email: str
    npi: str = ""
    is_staff: bool = False
    is_superuser: bool = False


DEMO_PEOPLE = (
    DemoPerson("dr.smith", "Alice", "Smith", "alice.smith@example.test", npi="1234567893"),
    DemoPerson("dr.jones", "Brian", "Jones", "brian.jones@example.test", npi="1234567802"),
    DemoPerson("manager.lee", "Casey", "Lee", "casey.lee@example.test", is_staff=True),
    DemoPerson("admin", "Practice", "Admin", "admin@example.test", is_staff=True, is_superuser=True),
)


def seed_people() -> list[User]:
    users = []
    for person in DEMO_PEOPLE:
        user, created = User.objects.update_or_create(
            username=person.username,
            defaults={
                "first_name": person.first_name,
                "last_name": person.last_name,
                "email": person.email,
                "is_staff": person.is_staff,
                "is_superuser": person.is_superuser,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        if person.npi:
            Provider.objects.update_or_create(
                user=user,
                defaults={
                    "display_name": f"Dr. {person.first_name} {person.last_name}",
                    "npi": person.npi,
                    "phone": "(212) 555-0100",
                    "address_line1": "100 Main Street",
                    "city": "New York",
                    "state": "NY",
                    "postal_code": "10001",
                },
            )
        users.append(user)
    return users
