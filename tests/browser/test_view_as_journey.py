"""View as the subscriber, in a browser: from the card the demo administrator opens the
subscriber's own pages under a banner, a subscriber's form is refused, nothing of the
pages stays on the device, and "end view" goes back to the card."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    accessibility_violations,
    phone_only,
    save_screenshot,
    sign_in_to_console,
)

pytestmark = pytest.mark.browser

CARD = "/staff/subscribers/1"  # the demo subscriber's first contract


@phone_only
def test_view_as_the_subscriber_read_only_and_back_to_the_card(page: Page, demo):
    sign_in_to_console(page, demo)
    page.goto(CARD)
    page.click("#view-form button[type=submit]")
    page.wait_for_url(demo.url + "/")
    banner = page.locator("#view-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("только чтение")
    expect(page.locator("#balance")).to_be_visible()
    assert accessibility_violations(page) == ""
    save_screenshot(page, "view-as-home")
    # The home page keeps nothing on the device in a view (portal.js, data-view-as).
    assert page.evaluate("localStorage.getItem('portal:summary')") is None

    page.click("nav.bottom-nav >> text=Оплата")
    page.wait_for_url(demo.url + "/pay/")
    expect(banner).to_be_visible()
    page.fill("#amount", "500")
    page.click("#pay-form button[type=submit]")
    expect(page.locator(".error-card")).to_contain_text("только для чтения")
    expect(page.locator("#view-banner")).to_be_visible()

    page.click("#view-banner button[type=submit]")
    page.wait_for_url(demo.url + CARD)
    expect(page.locator(".flash")).to_contain_text("Просмотр от имени абонента завершён")
    expect(page.locator("#view-banner")).to_have_count(0)
    page.goto("/")
    page.wait_for_url(demo.url + "/login")
