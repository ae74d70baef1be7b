"""Every page: no accessibility violation (axe-core), a screenshot at phone size, no
horizontal scrolling down to 200 % zoom, touch targets of 48 px, dark mode."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    SIGNED_IN_PAGES,
    accessibility_violations,
    phone_only,
    save_screenshot,
    sign_in,
    sign_in_to_console,
)
from tools.browser import PHONE, wait_for_service_worker

pytestmark = pytest.mark.browser

SIGNED_OUT_PAGES = [
    ("login", "/login"),
    ("recover", "/recover"),
    ("recover-sent", "/recover/sent"),
    ("sms-outbox", "/demo/sms/"),
    ("not-found", "/no-such-page"),
    ("staff-login", "/staff/login"),
]


STAFF_PAGES = [
    ("staff-onboarding", "/staff/subscribers/new"),
    ("staff-enrol", "/staff/totp"),
    ("staff-search", "/staff/subscribers/?q=%D0%98%D0%B2"),
    ("staff-card", "/staff/subscribers/1"),
    ("staff-import", "/staff/subscribers/import/"),
    ("staff-payments", "/staff/payments/"),
    ("staff-review", "/staff/payments/review"),
    ("staff-refunds", "/staff/payments/refunds"),
    ("staff-sms", "/staff/sms/"),
    ("staff-team", "/staff/team/"),
    ("staff-team-new", "/staff/team/new"),
    ("staff-team-member", "/staff/team/1"),
    ("staff-catalogue", "/staff/catalogue/"),
    ("staff-catalogue-addons", "/staff/catalogue/addons"),
    ("staff-catalogue-group", "/staff/catalogue/groups/1"),
    ("staff-catalogue-new-tariff", "/staff/catalogue/tariffs/new"),
    ("staff-catalogue-addon", "/staff/catalogue/addons/1"),
    ("staff-visits", "/staff/visits/?week=y"),
    ("staff-visits-schedule", "/staff/visits/schedule"),
    ("staff-visits-technicians", "/staff/visits/technicians"),
    ("staff-visits-technician", "/staff/visits/technicians/1"),
]


def visit_every_page(page: Page, demo):
    """Yield (name, path) with the page loaded: signed out first, then signed in, the
    staff console, then the offline page as the worker shows it."""
    for name, path in SIGNED_OUT_PAGES:
        page.goto(path)
        yield name, path
    sign_in(page, demo)
    wait_for_service_worker(page)
    for name, path in SIGNED_IN_PAGES:
        page.goto(path)
        yield name, path
    sign_in_to_console(page, demo)
    yield "staff-console", "/staff/"
    for name, path in STAFF_PAGES:
        page.goto(path)
        yield name, path
    page.context.set_offline(True)
    page.goto("/")
    expect(page.locator("#last-known")).to_be_visible()
    yield "offline", "/"
    page.context.set_offline(False)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_accessibility_violations_on_any_page(page: Page, demo, screen, scheme):
    page.emulate_media(color_scheme=scheme)
    problems = {}
    for name, _path in visit_every_page(page, demo):
        if screen == "phone":
            save_screenshot(page, f"{name}-phone-{scheme}")
        found = accessibility_violations(page)
        if found:
            problems[name] = found
    assert not problems, "\n\n".join(f"{name}:\n{report}" for name, report in problems.items())


@pytest.mark.parametrize(
    "viewport",
    [
        pytest.param({"width": 360, "height": 740}, id="360px-phone"),
        pytest.param({"width": 195, "height": 422}, id="phone-at-200%-zoom"),
        pytest.param({"width": 640, "height": 400}, id="desktop-at-200%-zoom"),
    ],
)
def test_no_horizontal_scrolling(new_context, demo, viewport):
    page = new_context(**{**PHONE, "viewport": viewport}).new_page()
    wide = []
    for name, _path in visit_every_page(page, demo):
        overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
        if overflow > 0:
            wide.append(f"{name}: {overflow}px too wide")
    assert not wide


TOUCH_TARGETS = """() => [...document.querySelectorAll(
    "a[href], button, select, input:not([type=hidden]):not([type=checkbox]):not([type=radio])")]
  .filter((el) => el.offsetParent !== null && !el.classList.contains("skip-link"))
  .map((el) => ({ what: el.outerHTML.slice(0, 80), ...el.getBoundingClientRect().toJSON() }))
  .filter((box) => box.width < 48 || box.height < 48)"""


@phone_only
def test_touch_targets_are_at_least_48px(page: Page, demo):
    small = {}
    for name, _path in visit_every_page(page, demo):
        found = page.evaluate(TOUCH_TARGETS)
        if found:
            small[name] = [(box["what"], box["width"], box["height"]) for box in found]
        # A checkbox or radio is small, but its row (it and its label) is the target.
        for row in page.locator(".field-check").all():
            assert row.bounding_box()["height"] >= 48
    assert not small


@phone_only
def test_dark_mode_follows_the_system(page: Page):
    background = "getComputedStyle(document.body).backgroundColor"
    page.emulate_media(color_scheme="light")
    page.goto("/login")
    light = page.evaluate(background)
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate(background)
    assert light == "rgb(243, 245, 248)"
    assert dark == "rgb(18, 20, 23)"
