"""Paying online: the Pay page, the sandbox acquirer's card page, back to the status page
that follows the payment until it is final, the new balance and the receipt."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import phone_only, save_screenshot
from tests.fakes.yookassa_api import SECRET_KEY, SHOP_ID, FakeYooKassa
from tools.browser import PHONE
from tools.demo_server import running_demo

pytestmark = pytest.mark.browser

# A demo subscriber of its own, so the other journeys' figures stay as they were.
LOGIN = "sidorova"


def sign_in_as(page: Page, demo, login: str) -> None:
    page.goto("/login")
    page.fill("#login", login)
    page.fill("#password", demo.password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(demo.url + "/")


def kopecks(text: str) -> int:
    """'1 234,56 ₽' -> 123456."""
    digits = re.sub(r"[^\d,-]", "", text).replace(",", "")
    return int(digits)


def pay_with_card(page: Page, demo, amount: str, card: str) -> None:
    page.goto("/pay/")
    page.fill("#amount", amount)
    page.click("#pay-form button[type=submit]")
    page.wait_for_url(re.compile(r"/sandbox-acquirer/"))
    expect(page.locator(".test-mode").first).to_contain_text("TEST MODE")
    page.fill("#card_number", card)
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(demo.url) + r"/pay/\d+$"))


@phone_only
def test_pay_by_card_and_see_the_new_balance_and_receipt(page: Page, demo):
    sign_in_as(page, demo, LOGIN)
    before = kopecks(page.locator("#balance").inner_text())
    pay_with_card(page, demo, "250,50", "4111 1111 1111 1111")
    status = page.locator("#payment-status")
    expect(status).to_have_class(re.compile(r"status-succeeded"), timeout=20_000)
    save_screenshot(page, "payment-succeeded-phone")
    assert kopecks(page.locator("#payment-status #balance").inner_text()) == before + 250_50

    page.locator("#payment-status").get_by_role("link", name="Квитанция").click()
    page.wait_for_url(re.compile(r"/pay/\d+/receipt$"))
    expect(page.locator("main")).to_contain_text("250,50")
    save_screenshot(page, "receipt-phone")

    page.goto("/")
    assert kopecks(page.locator("#balance").inner_text()) == before + 250_50


@phone_only
def test_a_declined_card_takes_no_money(page: Page, demo):
    sign_in_as(page, demo, LOGIN)
    before = kopecks(page.locator("#balance").inner_text())
    pay_with_card(page, demo, "100", "4000 0000 0000 0002")
    expect(page.locator("#payment-status")).to_have_class(
        re.compile(r"status-canceled"), timeout=20_000
    )
    page.goto("/")
    assert kopecks(page.locator("#balance").inner_text()) == before


@pytest.fixture(scope="module")
def yookassa_demo(tmp_path_factory):
    """A demo of its own whose payments go to YooKassa (a local server speaking its API,
    whose payment pages are on yoomoney.ru, as the real one's are)."""
    api = FakeYooKassa().start()
    try:
        with running_demo(
            tmp_path_factory.mktemp("yookassa-demo"),
            PORTAL_PAYMENT_PROVIDER="yookassa",
            PORTAL_YOOKASSA_SHOP_ID=SHOP_ID,
            PORTAL_YOOKASSA_SECRET_KEY=SECRET_KEY,
            PORTAL_YOOKASSA_API_URL=api.api_url,
        ) as server:
            yield server
    finally:
        api.stop()


def test_pay_tapped_from_the_home_page_goes_on_to_the_acquirers_page(browser, yookassa_demo):
    context = browser.new_context(base_url=yookassa_demo.url, locale="ru-RU", **PHONE)
    try:
        checkout = re.compile(r"^https://yoomoney\.ru/checkout/")
        context.route(checkout, lambda route: route.fulfill(body="<h1>YooMoney</h1>"))
        page = context.new_page()
        sign_in_as(page, yookassa_demo, LOGIN)
        # As a subscriber goes there: a tap, which htmx swaps into the home page.
        page.locator(".bottom-nav a[href^='/pay/']").click()
        page.wait_for_url(re.compile(r"/pay/"))
        page.fill("#amount", "300")
        page.click("#pay-form button[type=submit]")
        page.wait_for_url(checkout)
    finally:
        context.close()
