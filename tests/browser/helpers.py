"""What the browser tests do again and again: sign in, wait for the service worker,
check a page with axe, keep a screenshot. Later features add their journeys with these."""

import re
import time
from pathlib import Path

import pyotp
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
    ("history-payments", "/history/?kind=payment&period=12m"),
    ("receipt", "/pay/1/receipt"),  # the demo subscriber's first card payment
    ("tariff-compare", "/tariffs/1"),  # the demo's "Старт" beside its "Город"
    ("addon-connect", "/services/4/connect"),  # the router rental's confirm page
    ("promised", "/promised/"),
    ("pause", "/pause/"),
    ("profile", "/profile/"),
    ("password", "/profile/password"),
    ("phone", "/profile/phone"),
    ("notifications", "/notifications/"),
    ("notification-settings", "/notifications/settings"),
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


# The demo administrator's authenticator, once enrolled: its key and the last 30-second
# step whose code was used (the console never takes the same code twice).
_authenticator: dict[str, dict] = {}


def _next_code(app: dict) -> str:
    """The code an authenticator shows for the first step not used yet (the console
    accepts one step ahead); a recovery code rather than waiting for the next step."""
    now_step = int(time.time()) // 30
    step = max(now_step, app["last_step"] + 1)
    if step > now_step + 1 and app["recovery_codes"]:
        return app["recovery_codes"].pop()
    if step > now_step + 1:
        time.sleep((step - 1) * 30 - time.time() + 0.5)
    app["last_step"] = step
    return pyotp.TOTP(app["secret"]).at(step * 30)


def sign_in_to_console(page: Page, demo) -> None:
    """The staff console's sign-in as the demo administrator, with the second step: the
    first time, enrolment (the key read from the page, as a phone's app would)."""
    page.goto("/staff/login")
    page.fill("#login", demo.staff_login)
    page.fill("#password", demo.staff_password)
    page.click("#staff-login-form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(demo.url) + r"/staff/(totp|login/code)$"))
    app = _authenticator.get(demo.url)
    if app is None:
        app = {"secret": page.locator("#totp-key").inner_text(), "last_step": 0}
        app["recovery_codes"] = []
        page.fill("#code", _next_code(app))
        page.click("#staff-enrol-form button[type=submit]")
        expect(page.locator("#recovery-codes li")).to_have_count(10)
        app["recovery_codes"] = page.locator("#recovery-codes code").all_inner_texts()
        _authenticator[demo.url] = app
        page.goto("/staff/")
    else:
        page.fill("#code", _next_code(app))
        page.click("#staff-code-form button[type=submit]")
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
