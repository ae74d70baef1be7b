"""What the browser tests do again and again: sign in, wait for the service worker,
check a page with axe, keep a screenshot. Later features add their journeys with these."""

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tools.browser import DESKTOP, PHONE

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"

SCREENS = {"phone": PHONE, "desktop": DESKTOP}
# For a test that uses `page` (or `context`) on the phone only.
phone_only = pytest.mark.parametrize("screen", ["phone"], indirect=True)

# The signed-in pages: name, path, and the bottom bar's label for it .
SECTIONS = [
    ("payments", "/pay/", "Оплата"),
    ("history", "/history/", "История"),
    ("tariffs", "/tariffs/", "Тарифы"),
    ("services", "/services/", "Услуги"),
    ("visits", "/visits/", "Мастер"),
    ("promos", "/promos/", "Акции"),
]
SIGNED_IN_PAGES = [
    ("home", "/"),
    *((name, path) for name, path, _label in SECTIONS),
    ("profile", "/profile/"),
    ("password", "/profile/password"),
    ("phone", "/profile/phone"),
]

_axe = Axe()


def sign_in(page: Page, demo) -> None:
    """Through the real form, as a subscriber does; ends on the home page."""
    page.goto("/login")
    page.fill("#login", demo.login)
    page.fill("#password", demo.password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(demo.url + "/")
    expect(page.locator("#balance")).to_be_visible()


def sign_in_to_console(page: Page, demo) -> None:
    """The staff console's sign-in, as the demo administrator."""
    page.goto("/staff/login")
    page.fill("#login", demo.staff_login)
    page.fill("#password", demo.staff_password)
    page.click("#staff-login-form button[type=submit]")
    page.wait_for_url(demo.url + "/staff/")


def sign_out(page: Page, demo) -> None:
    page.click("form[data-sign-out] button")
    page.wait_for_url(demo.url + "/login")


def cached_urls(page: Page) -> dict[str, list[str]]:
    """Every Cache Storage cache of the site and the paths it holds."""
    return page.evaluate(
        """async () => {
          const found = {};
          for (const name of await caches.keys()) {
            const requests = await (await caches.open(name)).keys();
            found[name] = requests.map((r) => new URL(r.url).pathname + new URL(r.url).search);
          }
          return found;
        }"""
    )


def accessibility_violations(page: Page) -> str:
    """axe-core's findings on the page as it is now: '' when there are none."""
    results = _axe.run(page)
    if results.violations_count == 0:
        return ""
    return results.generate_report()


def save_screenshot(page: Page, name: str) -> Path:
    """A full-page picture under test-artifacts/screenshots/, kept by CI."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
