"""Accessibility in a real browser: axe-core on the main pages at desktop, tablet and phone
widths, no sideways scrolling at 320 px, every DEA-required field of the review on a phone's
screen, the push wait's number and countdown on a phone's first screen, focus after a wrong
code, and a focus ring of at least 3:1 (docs/accessibility.md).

One browser context and one seeded world serve each test; the viewport is resized in place.
axe-core comes from the npm registry (package.json, installed by `make install-dev`) and is
injected into each page with Playwright's `add_script_tag`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from providers.models import Practice, PracticeRole, User
from tests.browser import ARTIFACTS, DEFAULT_TIMEOUT_MS, sign_in_to_ehr
from tests.conftest import TEST_PASSWORD, join
from tests.eprescribe.ceremony_world import PrescribingWorld, make_prescribing_world
from tests.idme_fixtures import IdmeSandboxHandle
from tests.mfa.challenge_world import wrong_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Desktop, a tablet (iPad Air portrait) and a phone (iPhone 12-15); heights as those devices.
WIDTHS = {"desktop": (1280, 900), "tablet": (820, 1180), "phone": (390, 844)}
NARROWEST = (320, 640)
FAILING_IMPACTS = {"critical", "serious"}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

# DEA-06: what the review must show, as the template marks it (data-dea-field).
DEA_REVIEW_FIELDS = {
    "date",
    "practice",
    "patient-name",
    "patient-address",
    "drug-name",
    "strength",
    "dosage-form",
    "quantity",
    "directions",
    "refills",
    "prescriber-name",
    "prescriber-address",
    "dea-number",
}

_SCREENSHOT_DIR = (
    ROOT / "docs" / "images" if os.environ.get("EHR_UPDATE_SCREENSHOTS") == "1" else ROOT / "var" / "screenshots"
)
PHONE_REVIEW_SCREENSHOT = _SCREENSHOT_DIR / "review-phone.png"

# Reads every focusable element's focus ring and the colour behind it (the nearest opaque
# ancestor background), and returns those under 3:1 (WCAG 2.2 1.4.11 / 2.4.13).
FOCUS_RING_JS = """
() => {
  function rgb(value) {
    const m = value.match(/rgba?\\(([^)]+)\\)/);
    if (!m) { return null; }
    const p = m[1].split(',').map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  }
  function lum(c) {
    const f = (v) => { v = v / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  }
  function ratio(a, b) {
    const x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  }
  function behind(el) {
    for (let node = el.parentElement; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c && c.a > 0.5) { return c; }
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  }
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex="0"]';
  const problems = [];
  let checked = 0;
  for (const el of document.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) { continue; }
    el.focus({ preventScroll: true });
    if (document.activeElement !== el) { continue; }
    const style = getComputedStyle(el);
    checked += 1;
    const width = parseFloat(style.outlineWidth) || 0;
    const color = rgb(style.outlineColor);
    if (style.outlineStyle === 'none' || width < 2 || !color) {
      problems.push((el.textContent || el.name || el.tagName).trim().slice(0, 40) + ': no focus ring');
      continue;
    }
    const contrast = ratio(color, behind(el));
    if (contrast < 3) {
      problems.push((el.textContent || el.name || el.tagName).trim().slice(0, 40) + ': ' + contrast.toFixed(2) + ':1');
    }
  }
  if (document.activeElement) { document.activeElement.blur(); }
  return { checked, problems };
}
"""


@pytest.fixture
def axe_script() -> Path:
    if not AXE_SCRIPT.exists():
        pytest.fail("axe-core is not installed: run `make install-dev` (npm ci installs it from package-lock.json)")
    return AXE_SCRIPT


@pytest.fixture
def a11y_page(playwright_browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page in a fresh context that lets axe-core in: the EHR's Content-Security-Policy
    allows only its own scripts, so the context bypasses CSP for the injected engine."""
    context = playwright_browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-US", bypass_csp=True, reduced_motion="reduce"
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def run_axe(page: Any, axe_script: Path) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now, critical and serious ones only."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script))
    result = page.evaluate(
        "async (tags) => await axe.run(document,"
        " { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })",
        AXE_TAGS,
    )
    return [v for v in result["violations"] if v["impact"] in FAILING_IMPACTS]


def describe(violations: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{v['id']} ({v['impact']}): {', '.join(str(n['target']) for n in v['nodes'][:3])}" for v in violations
    )


def sideways_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no sideways scrolling)."""
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


def check_page(
    page: Any, url: str, name: str, axe_script: Path, problems: list[str], report: list[dict[str, Any]]
) -> None:
    """axe at the three widths, sideways overflow at those and at 320 px."""
    for label, (width, height) in (*WIDTHS.items(), ("narrowest", NARROWEST)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(url)
        overflow = sideways_overflow(page)
        if overflow > 0:
            problems.append(f"{name} at {width} px scrolls sideways by {overflow} px")
        row: dict[str, Any] = {"page": name, "width": width, "overflow_px": max(overflow, 0)}
        if label != "narrowest":
            violations = run_axe(page, axe_script)
            row["serious_or_critical"] = sorted({v["id"] for v in violations})
            if violations:
                problems.append(f"{name} at {width} px: {describe(violations)}")
        report.append(row)


@pytest.fixture
def world(idme_sandbox_live: IdmeSandboxHandle, clinician: User, practice: Practice) -> PrescribingWorld:
    """The clinician prescribes, signs, and is also an access manager of the practice, so the
    EPCS Permissions and credential verification pages show their tables."""
    join(clinician, practice, PracticeRole.ACCESS_MANAGER)
    return make_prescribing_world(idme_sandbox_live, clinician)


def open_review(page: Any, live_url: str, world: PrescribingWorld, *rx: Any) -> str:
    page.goto(f"{live_url}/eprescribe/")
    for one in rx:
        page.get_by_label(f"Select {one.medication} for {one.patient.full_name}").check()
    page.get_by_role("button", name="Sign selected").click()
    page.get_by_role("heading", name="Sign controlled-substance prescriptions").wait_for()
    return str(page.url)


def choose_phone(page: Any) -> None:
    """The phone in the push form (a radio when there are several push devices)."""
    radio = page.get_by_role("radio", name="My iPhone")
    if radio.count():
        radio.check()


def test_main_pages_have_no_serious_axe_violations_and_never_scroll_sideways(
    idme_sandbox_live: IdmeSandboxHandle, world: PrescribingWorld, a11y_page: Any, axe_script: Path
) -> None:
    from playwright.sync_api import expect

    page = a11y_page
    live_url = idme_sandbox_live.live_url
    base_url = idme_sandbox_live.base_url
    problems: list[str] = []
    report: list[dict[str, Any]] = []
    first = world.ready()
    world.ready(medication=world.alprazolam, quantity=30)

    # Signed out: the EHR's sign-in and ID.me's.
    check_page(page, f"{live_url}/accounts/login/", "Sign in", axe_script, problems, report)
    check_page(page, f"{base_url}/sign-in/", "ID.me sign-in", axe_script, problems, report)

    # ID.me's Sign In & Security (where Update MFA Device leads), signed in at ID.me.
    page.context.add_cookies(
        [
            {"name": name, "value": value, "url": live_url}
            for name, value in idme_sandbox_live.session_cookie(world.signing.account).items()
        ]
    )
    check_page(page, f"{base_url}/account/security/", "ID.me Sign In & Security", axe_script, problems, report)

    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in_to_ehr(page, live_url, world.user.username, TEST_PASSWORD)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    erx_info = live_url + reverse("provider-settings", kwargs={"tab": "erx-info"})
    check_page(page, erx_info, "eRx Info", axe_script, problems, report)
    check_page(page, f"{live_url}/eprescribe/", "Prescriptions", axe_script, problems, report)
    detail = live_url + reverse("eprescribe:detail", kwargs={"pk": first.pk})
    check_page(page, detail, "Prescription", axe_script, problems, report)
    check_page(page, live_url + reverse("epcs-permissions"), "EPCS Permissions", axe_script, problems, report)
    verification = live_url + reverse("credential-verification")
    check_page(page, verification, "Credential verification", axe_script, problems, report)

    page.set_viewport_size({"width": 1280, "height": 900})
    review = open_review(page, live_url, world, *world.provider.prescriptions.all())
    check_page(page, review, "Signing review", axe_script, problems, report)

    # The push wait: send a push to the phone, then check the waiting page.
    page.set_viewport_size({"width": 1280, "height": 900})
    choose_phone(page)
    page.get_by_role("button", name="Send push notification").click()
    expect(page.get_by_text("Number to match")).to_be_visible()
    check_page(page, review, "Push waiting", axe_script, problems, report)

    # The focus ring, on a light page and on one with the blue header's controls.
    for url in (erx_info, review, f"{base_url}/account/security/"):
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(url)
        ring = page.evaluate(FOCUS_RING_JS)
        assert ring["checked"] > 3, url
        problems.extend(f"focus ring on {url}: {p}" for p in ring["problems"])
        report.append({"page": url.replace(live_url, ""), "focus_ring_checked": ring["checked"], **ring})

    # The figures docs/accessibility.md quotes.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "accessibility-report.json").write_text(json.dumps(report, indent=1))
    assert not problems, "\n".join(problems)


@pytest.mark.req("DEA-06")
def test_on_a_phone_the_review_shows_every_dea_field_on_screen_and_focus_follows_a_wrong_code(
    idme_sandbox_live: IdmeSandboxHandle, world: PrescribingWorld, a11y_page: Any
) -> None:
    from playwright.sync_api import expect

    page = a11y_page
    live_url = idme_sandbox_live.live_url
    first = world.ready()
    world.ready(medication=world.alprazolam, quantity=30)
    sign_in_to_ehr(page, live_url, world.user.username, TEST_PASSWORD)
    review = open_review(page, live_url, world, *world.provider.prescriptions.all())

    for width, height in (WIDTHS["phone"], NARROWEST):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(review)
        assert sideways_overflow(page) == 0
        shown = page.evaluate(
            """() => [...document.querySelectorAll('[data-dea-field]')]
                 .filter((el) => el.getClientRects().length > 0)
                 .map((el) => { const r = el.getBoundingClientRect();
                                return { field: el.dataset.deaField, left: r.left, right: r.right }; })"""
        )
        assert {item["field"] for item in shown} == DEA_REVIEW_FIELDS, width
        outside = [item for item in shown if item["left"] < 0 or item["right"] > width]
        assert not outside, f"DEA fields outside the {width} px screen: {outside}"
        # Each prescription's card carries its own drug fields.
        assert page.locator(".rx-cards [data-dea-field='drug-name']").count() == 2
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(review)
    PHONE_REVIEW_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(PHONE_REVIEW_SCREENSHOT), full_page=True)

    # A wrong code: the page comes back with focus on the code field, marked invalid and
    # described by the error message.
    page.get_by_label("Enter the 6-digit code").fill(wrong_code(world.signing.totp_secret))
    page.get_by_role("button", name="Sign", exact=True).click()
    code_field = page.get_by_label("Enter the 6-digit code")
    expect(code_field).to_be_focused()
    expect(code_field).to_have_attribute("aria-invalid", "true")
    described = (code_field.get_attribute("aria-describedby") or "").split()
    assert described, "the invalid code field names its error"
    for element_id in described:
        expect(page.locator(f"#{element_id}")).to_be_visible()
    expect(page.locator(f"#{described[0]}")).to_contain_text("code")
    first.refresh_from_db()
    assert not first.is_signed

    # The push wait on a phone: the number and the countdown on the first screen.
    choose_phone(page)
    page.get_by_role("button", name="Send push notification").click()
    number = page.locator("#match-number")
    expect(number).to_be_visible()
    for target in (number, page.get_by_role("timer")):
        box = target.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 844, box
    announcer = page.locator("#push-announcer")
    expect(announcer).to_contain_text(number.inner_text().strip())
