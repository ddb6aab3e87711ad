"""eRx Info is a registry of sections: each app registers its own from AppConfig.ready(), and
the page stacks them in the seed's order (providers never names mfa or epcs_access)."""

from __future__ import annotations

from django.test import Client

from providers.erx_info import registered_sections


def test_each_app_registers_its_section_under_a_stable_name_in_the_seeds_order() -> None:
    assert [section.name for section in registered_sections()] == ["identity", "devices", "credentials", "epcs"]
    owners = {section.name: section.build.__module__.split(".")[0] for section in registered_sections()}
    assert owners == {"identity": "providers", "devices": "mfa", "credentials": "providers", "epcs": "epcs_access"}


def test_the_page_shows_the_registered_sections_top_to_bottom(clinician_client: Client) -> None:
    response = clinician_client.get("/account/provider-settings/erx-info/")
    assert response.status_code == 200
    page = response.content.decode()
    headings = [
        'id="identity-heading"',
        'id="devices-heading"',
        'id="credentials-heading"',
        'id="epcs-status-heading"',
        'id="lost-device-heading"',
    ]
    positions = [page.index(heading) for heading in headings]
    assert positions == sorted(positions)
    assert "Report lost or stolen device" in page and "EPCS Permissions Page" in page
