"""A subscriber's journeys through the portal, on a phone and on a desktop."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import SECTIONS, sign_in, sign_out

pytestmark = pytest.mark.browser


def test_sign_in_browse_every_section_by_the_bottom_bar_and_sign_out(page: Page, demo):
    sign_in(page, demo)
    expect(page.locator("#days-left")).not_to_be_empty()
    # A mark on the window survives htmx swaps and is lost on a full page load.
    page.evaluate("window.loadedOnce = true")

    for _name, path, label in SECTIONS:
        page.locator(".bottom-nav").get_by_role("link", name=label).click()
        page.wait_for_url(demo.url + path)
        link = page.locator(f'.bottom-nav a[href="{path}"]')
        expect(link).to_have_attribute("aria-current", "page")
        expect(page.locator("main h1")).to_be_visible()
        assert page.evaluate("window.loadedOnce === true"), f"{path} was a full page load"

    # Back goes through the same sections in reverse, each page whole.
    for _name, path, _label in reversed(SECTIONS[:-1]):
        page.go_back()
        page.wait_for_url(demo.url + path)
        expect(page.locator(f'.bottom-nav a[href="{path}"]')).to_have_attribute(
            "aria-current", "page"
        )
    page.go_forward()
    page.wait_for_url(demo.url + SECTIONS[1][1])

    page.locator(".topbar .brand").click()
    page.wait_for_url(demo.url + "/")
    expect(page.locator("#balance")).to_be_visible()

    sign_out(page, demo)
    expect(page.locator("#login-form")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))


def test_caps_lock_and_russian_layout_warnings_appear_while_typing(page: Page):
    page.goto("/login")
    caps = page.locator("#caps-warning")
    layout = page.locator("#layout-warning")
    password = page.locator("#password")
    expect(caps).to_be_hidden()
    expect(layout).to_be_hidden()

    password.press("P")  # a capital letter without Shift: Caps Lock is on
    expect(caps).to_be_visible()
    password.press("Shift+A")  # a capital with Shift: Caps Lock is off
    expect(caps).to_be_hidden()
    password.press("P")
    expect(caps).to_be_visible()
    password.press("a")
    expect(caps).to_be_hidden()

    password.fill("")
    password.press_sequentially("пароль")
    expect(layout).to_be_visible()
    password.fill("parol")
    password.press("l")
    expect(layout).to_be_hidden()
