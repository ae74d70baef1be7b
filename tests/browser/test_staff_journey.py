"""The console at contract signing: the demo administrator onboards a subscriber, prints
the credentials sheet, signs out, and the subscriber signs in with the printed password."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    accessibility_violations,
    phone_only,
    save_screenshot,
    sign_in_to_console,
)

pytestmark = pytest.mark.browser


@phone_only
def test_onboard_print_the_sheet_and_sign_in_with_it(page: Page, demo):
    sign_in_to_console(page, demo)
    page.click("text=Новый абонент")
    page.wait_for_url(demo.url + "/staff/subscribers/new")
    page.fill("#contract", "880011")
    page.fill("#name", "Пётр Ильич Журавлёв")
    page.fill("#phone", "+7 978 555-12-34")
    page.fill("#address", "Ялта, ул. Садовая, д. 12")
    page.select_option("#district", "Ливадия")
    page.select_option("#internet", index=1)
    page.click("#onboarding-form button[type=submit]")
    sheet = page.locator("article.sheet")
    expect(sheet).to_contain_text("880011")
    login = sheet.locator("dd.secret").nth(0).inner_text()
    password = sheet.locator("dd.secret").nth(1).inner_text()
    assert login == "880011" and len(password) >= 10

    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator("button[data-print]")).to_be_hidden()
    expect(sheet.locator("img.sheet-qr")).to_be_visible()
    save_screenshot(page, "credentials-sheet-print")
    page.emulate_media(media="screen")

    page.click("form.logout button")
    page.wait_for_url(demo.url + "/staff/login")
    page.goto("/login")
    page.fill("#login", login)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(demo.url + "/")
    expect(page.locator("#balance")).to_be_visible()


@phone_only
def test_a_new_member_from_the_team_page_signs_in_with_the_printed_password(page: Page, demo):
    sign_in_to_console(page, demo)
    page.click("text=Сотрудники")
    page.wait_for_url(demo.url + "/staff/team/")
    page.click("text=Новый сотрудник")
    page.fill("#login", "dispatcher.one")
    page.fill("#name", "Ольга Диспетчер")
    page.select_option("#role", "dispatcher")
    page.click("#member-form button[type=submit]")
    sheet = page.locator("article.sheet")
    expect(sheet).to_contain_text("Ольга Диспетчер")
    password = sheet.locator("dd.secret").nth(1).inner_text()
    assert len(password) >= 16
    assert not accessibility_violations(page)
    page.emulate_media(media="print")
    expect(page.locator("button[data-print]")).to_be_hidden()
    expect(sheet).to_be_visible()
    save_screenshot(page, "staff-password-print")
    page.emulate_media(media="screen")

    page.click("form.logout button")
    page.wait_for_url(demo.url + "/staff/login")
    page.fill("#login", "dispatcher.one")
    page.fill("#password", password)
    page.click("#staff-login-form button[type=submit]")
    page.wait_for_url(demo.url + "/staff/")
    expect(page.locator(".staff-who")).to_contain_text("Ольга Диспетчер")


TEXT_BOX = """selector => {
  const range = document.createRange();
  range.selectNodeContents(document.querySelector(selector));
  const box = range.getBoundingClientRect();
  return {right: box.right, middle: box.top + box.height / 2};
}"""


@phone_only
def test_the_days_figures_line_up_whether_they_link_to_a_queue_or_not(page: Page, demo):
    """A figure that links to its queue is a finger-sized target: its number still ends
    where the plain figures' end, level with its label."""
    sign_in_to_console(page, demo)
    plain = page.evaluate(TEXT_BOX, "#figure-paid dd")
    for figure in ("payments", "review", "refunds", "sms-failed", "visits"):
        number = page.evaluate(TEXT_BOX, f"#figure-{figure} dd a")
        label = page.evaluate(TEXT_BOX, f"#figure-{figure} dt")
        assert abs(number["right"] - plain["right"]) <= 1, figure
        assert abs(number["middle"] - label["middle"]) <= 2, figure
