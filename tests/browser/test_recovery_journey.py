"""Forgot the password: contract + phone, the SMS (read on the demo outbox page), a
one-time sign-in, choosing an own password, and signing in with it."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import phone_only, sign_out

pytestmark = pytest.mark.browser

# A demo subscriber other than the one the other journeys sign in as (portal/demo.py).
LOGIN, CONTRACT, PHONE = "petrov", "100003", "8 (978) 000-00-03"


@phone_only
def test_new_password_by_sms_then_an_own_password(page: Page, demo):
    page.goto("/login")
    page.get_by_role("link", name="Забыли пароль?").click()
    page.wait_for_url(demo.url + "/recover")
    page.fill("#contract", CONTRACT)
    page.fill("#phone", PHONE)
    page.check("#send_sms")
    page.click("#recover-form button[type=submit]")
    page.wait_for_url(demo.url + "/recover/sent")
    expect(page.locator("main h1")).to_have_text("Проверьте телефон")

    secret = read_secret_from_outbox(page)

    page.goto("/login")
    page.fill("#login", LOGIN)
    page.fill("#password", secret)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(demo.url + "/profile/password")
    expect(page.locator(".bottom-nav")).to_have_count(0)
    page.goto("/history/")
    page.wait_for_url(demo.url + "/profile/password")  # nothing else opens yet

    page.fill("#new", "ялта море горы 2026")
    page.fill("#repeat", "ялта море горы 2026")
    page.click("#password-form button[type=submit]")
    page.wait_for_url(demo.url + "/profile/")
    expect(page.locator(".flash")).to_have_text("Пароль изменён.")

    sign_out(page, demo)
    page.fill("#login", LOGIN)
    page.fill("#password", secret)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-form .alert-error")).to_be_visible()  # used up
    page.fill("#password", "ялта море горы 2026")
    page.click("#login-form button[type=submit]")
    page.wait_for_url(demo.url + "/")


def read_secret_from_outbox(page: Page) -> str:
    """The demo outbox page shows the SMS once the job queue has 'sent' it."""
    page.goto("/demo/sms/")
    expect(page.locator("#test-mode")).to_be_visible()
    newest = page.locator(".sms-text").first
    expect(newest).to_contain_text("новый пароль", timeout=15_000)
    return re.search(r"новый пароль (\S+)", newest.inner_text()).group(1)
