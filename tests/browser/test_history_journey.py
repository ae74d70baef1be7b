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
from tools.browser import PHONE

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


PICTURE_COLOURS = """() => {
  const card = getComputedStyle(document.querySelector("#chart")).backgroundColor;
  const paint = (selector, what) => getComputedStyle(document.querySelector(selector))[what];
  return {card, paid: paint("#chart .chart-paid", "fill"),
          charged: paint("#chart .chart-charged", "fill"),
          balance: paint("#chart .chart-balance", "stroke"),
          label: paint("#chart .chart-month", "fill")};
}"""


def contrast(one: str, other: str) -> float:
    """WCAG's contrast ratio of two computed colours ("rgb(r, g, b)")."""

    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_picture_reads_on_a_360px_phone_in_light_and_dark(new_context, demo, scheme):
    page = new_context(**{**PHONE, "viewport": {"width": 360, "height": 740}}).new_page()
    page.emulate_media(color_scheme=scheme)
    sign_in(page, demo)
    page.goto("/history/")
    svg = page.locator("#chart svg.chart-svg")
    expect(svg).to_be_visible()
    box = svg.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    # The month names under the bars as drawn (the viewBox is scaled to the card's
    # width): no smaller than a phone's small print.
    size = svg.locator(".chart-month").first.evaluate(
        "t => parseFloat(getComputedStyle(t).fontSize)"
    )
    view_width = svg.evaluate("s => s.viewBox.baseVal.width")
    assert size * box["width"] / view_width >= 11, (size, box, view_width)
    # Bars, the balance line and the labels stand out from the card (WCAG 1.4.11: 3:1).
    colours = page.evaluate(PICTURE_COLOURS)
    for part in ("paid", "charged", "balance", "label"):
        assert contrast(colours[part], colours["card"]) >= 3, (part, colours)
    assert colours["paid"] != colours["charged"]
    save_screenshot(page, f"history-picture-360-{scheme}")
