"""The Account Settings tab bar, in the seed's order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tab:
    slug: str
    label: str
    # Tabs owned by other EHR modules render a plain notice instead of a form.
    in_this_module: bool = False


TABS: tuple[Tab, ...] = (
    Tab("profile", "Profile", in_this_module=True),
    Tab("general", "General"),
    Tab("email", "Email"),
    Tab("medical-billing", "Medical Billing"),
    Tab("erx-info", "eRx Info", in_this_module=True),
    Tab("services", "Services"),
    Tab("usage", "Usage"),
    Tab("my-billing", "My Billing"),
    Tab("sample-data", "Sample Data"),
    Tab("security", "Security", in_this_module=True),
    Tab("patient-payments", "Patient Payments"),
)
TABS_BY_SLUG = {tab.slug: tab for tab in TABS}
