"""A promised payment taken by a subscriber blocked for debt, then the services paused
from the pause page and resumed from the home page."""

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import phone_only, save_screenshot

pytestmark = pytest.mark.browser

# The demo subscriber who never pays (portal/demo.py), blocked for debt; this file runs
# before the recovery journey changes his password.
LOGIN = "petrov"


@phone_only
def test_take_a_promised_payment_then_pause_and_resume(page: Page, demo):
    page.goto("/login")
    page.fill("#login", LOGIN)
    page.fill("#password", demo.password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(demo.url + "/")
    expect(page.locator(".balance-card .status")).to_have_class(re.compile("status-blocked"))

    page.locator("#promised-and-pauses").get_by_role("link", name="Обещанный платёж").click()
    page.wait_for_url(demo.url + "/promised/")
    page.click("#promised-form button[type=submit]")
    page.wait_for_url(demo.url + "/")
    expect(page.locator(".flash")).to_contain_text("Обещанный платёж 300 ₽ зачислен")
    expect(page.locator("#promised")).to_contain_text("Обещанный платёж 300 ₽ до")
    expect(page.locator(".balance-card .status")).to_have_class(re.compile("status-active"))
    save_screenshot(page, "promised-home-phone")

    page.locator("#promised-and-pauses").get_by_role("link", name="Приостановить услуги").click()
    page.wait_for_url(demo.url + "/pause/")
    today = page.locator("#starts_on").get_attribute("min")
    page.fill("#starts_on", today)
    last = date.fromisoformat(today) + timedelta(days=9)
    page.fill("#ends_on", last.isoformat())
    page.click("#pause-form button[type=submit]")
    page.wait_for_url(demo.url + "/")
    expect(page.locator(".balance-card .status")).to_have_class(re.compile("status-suspended"))
    expect(page.locator("#pauses")).to_contain_text("Приостановлено до")

    page.locator("#pauses").get_by_role("button", name="Возобновить сейчас").click()
    page.wait_for_url(demo.url + "/")
    expect(page.locator(".flash")).to_contain_text("Услуги снова работают.")
    expect(page.locator(".balance-card .status")).to_have_class(re.compile("status-active"))
    expect(page.locator("#pauses")).to_have_count(0)
