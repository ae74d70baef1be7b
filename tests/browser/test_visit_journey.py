"""Calling a technician home, end to end in the browser: the subscriber books a visit
into a window; the dispatcher confirms it with a technician on the board (the row swaps
in place); the subscriber sees it confirmed with the technician's name; after the visit
is done they rate it, and the rating reaches the technicians page. A second request is
moved and then cancelled by the subscriber."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import phone_only, sign_in, sign_in_to_console

pytestmark = pytest.mark.browser


def book(page: Page, demo, category: str) -> tuple[str, str]:
    """A visit of `category` in the furthest window offered: (its path, the window key)."""
    page.goto("/visits/")
    page.select_option("#category", category)
    page.fill("#text", "Проверка из браузера")
    last = page.locator("input[name=window]").last
    key = last.get_attribute("value")
    last.check()
    page.click("#book-form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(demo.url) + r"/visits/\d+$"))
    expect(page.locator("#visit-title")).to_have_text("Заявка принята")
    return page.url.removeprefix(demo.url), key


def act(row, button: str, state: str):
    """A board action: the row comes back in place with the new state."""
    row.get_by_role("button", name=button, exact=True).click()
    expect(row.locator(".visit-state")).to_have_text(state)


@phone_only
def test_book_confirm_see_the_technician_rate_and_cancel(page: Page, demo):
    sign_in(page, demo)
    visit_path, key = book(page, demo, "equipment")
    visit_id = visit_path.rsplit("/", 1)[1]

    sign_in_to_console(page, demo)
    page.goto(f"/staff/visits/?day={key[:10]}")
    board_url = page.url
    row = page.locator(f"#visit-{visit_id}")
    row.locator("select[name=technician]").select_option(label="Пётр Мастеров")
    act(row, "Подтвердить", "Подтверждён")
    expect(row.locator(".visit-technician")).to_have_text("Пётр Мастеров")
    assert page.url == board_url  # swapped in place, no page load

    page.goto(visit_path)
    expect(page.locator("#visit-title")).to_have_text("Подтверждён")
    expect(page.locator("#visit-technician")).to_have_text("Пётр Мастеров")

    page.goto(f"/staff/visits/?day={key[:10]}")
    row = page.locator(f"#visit-{visit_id}")
    act(row, "Выехал", "Мастер выехал")
    act(row, "Выполнен", "Выполнен")

    page.goto(visit_path)
    page.select_option("#rating", "5")
    page.fill("#comment", "Пришёл вовремя, всё починил")
    page.click("#rate-form button[type=submit]")
    expect(page.locator("#rate-title + p")).to_contain_text("5")
    page.goto("/staff/visits/technicians")
    expect(page.locator(".technician-comments")).to_contain_text("Пришёл вовремя")

    book(page, demo, "moving_cable")
    before = page.locator("#visit-window").inner_text()
    # The furthest window: the earliest may start within the hours before which a visit
    # may still be changed (at 07:10 the 09:00 one), and then there is nothing to cancel.
    page.locator("#move-form input[name=window]").last.check()
    page.click("#move-form button[type=submit]")
    expect(page.locator("#visit-window")).not_to_have_text(before)
    page.click("#cancel-form button[type=submit]")
    expect(page.locator("#visit-title")).to_have_text("Отменён")
    expect(page.locator("#cancel-form")).to_have_count(0)
