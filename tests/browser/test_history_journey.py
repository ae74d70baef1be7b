"""The history in the browser: the picture, filters, the next page as the list ends, and
from a payment in the history to its receipt, which prints without the navigation and
downloads as a PDF."""

import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.browser.helpers import phone_only, save_screenshot, sign_in

pytestmark = pytest.mark.browser


@phone_only
def test_the_next_page_arrives_as_the_list_ends(page: Page, demo):
    sign_in(page, demo)
    page.goto("/history/")
    expect(page.locator("#chart svg.chart-svg")).to_be_visible()
    entries = page.locator("#history .entry")
    first_page = entries.count()
    assert first_page >= 10
    page.locator("#history .more").scroll_into_view_if_needed()
    expect(entries).not_to_have_count(first_page)  # htmx brought the next page
    seen = page.locator("#history .month h2").all_inner_texts()
    assert len(seen) == len(set(seen))  # a month continued on the next page has one heading


def test_from_the_history_to_a_receipt_that_prints_and_downloads(page: Page, demo):
    sign_in(page, demo)
    page.goto("/history/")
    page.select_option("#kind", "payment")
    page.locator("form.history-filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"/history/\?.*kind=payment"))
    expect(page.locator("#history .entry-payment").first).to_be_visible()
    expect(page.locator("#history .entry-charge")).to_have_count(0)

    page.locator("#history .entry-receipt").first.click()
    page.wait_for_url(re.compile(r"/pay/\d+/receipt$"))
    heading = page.locator("#receipt h1")
    expect(heading).to_contain_text("Квитанция об оплате №")
    number = heading.inner_text().split("№")[1].strip()
    expect(page.locator("#receipt")).to_contain_text("ИНН / КПП")

    page.emulate_media(media="print")
    for hidden in [".topbar", ".bottom-nav", ".receipt-actions"]:
        expect(page.locator(hidden)).to_be_hidden()
    expect(page.locator("#receipt")).to_be_visible()
    save_screenshot(page, f"receipt-print-{page.viewport_size['width']}")
    page.emulate_media(media="screen")
    expect(page.locator(".bottom-nav")).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("link", name="Скачать PDF").click()
    assert download.value.suggested_filename == f"receipt-{number}.pdf"
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"%PDF-")
    text = " ".join(PdfReader(io.BytesIO(data)).pages[0].extract_text().split())
    assert f"Квитанция об оплате № {number}" in text
