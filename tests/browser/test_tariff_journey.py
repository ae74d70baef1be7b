"""Changing a tariff with the side-by-side page (the home page naming the scheduled
change), cancelling a scheduled change, and connecting and disconnecting an add-on, in
the browser, as the demo subscriber.

Once (on a phone): the demo's state changes (a tariff changed today cannot be changed
again the same day)."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import phone_only, save_screenshot, sign_in

pytestmark = pytest.mark.browser


@phone_only
def test_change_a_tariff_side_by_side_and_cancel_a_scheduled_one(page: Page, demo):
    sign_in(page, demo)
    page.goto("/tariffs/")
    # A cheaper internet tariff: on the first of next month, with the group's fee.
    page.get_by_role("link", name="Сравнить и сменить: Старт").click()
    page.wait_for_url(re.compile(r"/tariffs/\d+$"))
    table = page.locator("table.compare")
    expect(table).to_contain_text("Город")
    expect(table).to_contain_text("Старт")
    expect(page.locator("#fee")).to_contain_text("100")
    expect(page.locator("#difference")).to_contain_text("-200")
    expect(page.locator("#forecast")).not_to_be_empty()
    save_screenshot(page, "tariff-compare-phone")
    page.get_by_role("button", name="Подтвердить смену").click()
    page.wait_for_url(re.compile(r"/tariffs/$"))
    scheduled = page.locator("#pending-changes")
    expect(scheduled).to_contain_text("Город → Старт")
    # The home page says what changes on which date.
    page.goto("/")
    expect(page.locator("#coming")).to_contain_text("Тариф «Старт» вместо «Город»")
    page.goto("/tariffs/")
    scheduled.get_by_role("button", name="Отменить смену").click()
    page.wait_for_url(re.compile(r"/tariffs/$"))
    expect(page.locator("#pending-changes")).to_have_count(0)

    # A dearer TV tariff: from today.
    page.get_by_role("link", name="Сравнить и сменить: ТВ Расширенный").click()
    expect(page.locator("#takes-effect")).to_have_text("сегодня")
    page.get_by_role("button", name="Подтвердить смену").click()
    page.wait_for_url(re.compile(r"/tariffs/$"))
    current = page.locator("li.offer.current")
    expect(current.filter(has_text="ТВ Расширенный")).to_contain_text("Ваш тариф")


@phone_only
def test_connect_and_disconnect_an_addon(page: Page, demo):
    sign_in(page, demo)
    page.goto("/services/")
    page.get_by_role("link", name="Подключить: Антивирус", exact=True).click()
    page.wait_for_url(re.compile(r"/services/\d+/connect$"))
    expect(page.locator("#price")).to_contain_text("99")
    expect(page.locator("#starts")).to_have_text("сегодня")
    page.get_by_role("button", name="Подтвердить подключение").click()
    page.wait_for_url(re.compile(r"/services/$"))
    # Connected, and the add-on it excludes says why it cannot be connected now.
    family = page.locator("li.offer", has_text="Антивирус Семья")
    expect(family.get_by_role("button", name="Подключить")).to_be_disabled()
    expect(family).to_contain_text("Несовместима с услугой «Антивирус»")
    page.get_by_role("button", name="Отключить: Антивирус", exact=True).click()
    page.wait_for_url(re.compile(r"/services/$"))
    expect(page.locator(".items")).to_contain_text("Отключена: сегодня последний день.")
