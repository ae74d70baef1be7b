"""The history page: months with their totals, filters in the URL, pages by htmx and by
a plain link, the picture of the last 12 months, the CSV export, and bad filters."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from portal.domain import ledger
from portal.models import EntryKind
from tests.factories import PASSWORD, create_subscriber, credited_payment
from tests.web.test_home_queries import statements

EN = {"Accept-Language": "en"}
HTMX = {"HX-Request": "true"}


@pytest.fixture
def subscriber(session, auth, frozen_clock):
    """A subscriber signed in on 20 December 2026 (Yalta time), nothing booked yet."""
    frozen_clock.set(datetime(2026, 12, 20, 9, 0, tzinfo=UTC))
    new = create_subscriber(session, login="reader")
    session.commit()
    auth.login("reader", PASSWORD)
    return new


def book(session, clock, account, moment, kind, amount, key, description=""):
    """An entry booked at `moment`; the clock goes back to where it was."""
    now = clock.moment
    clock.set(moment)
    entry = ledger.post(session, account.id, kind, amount, key=key, description=description)
    clock.set(now)
    session.commit()
    return entry.entry


def at(year, month, day, hour=9):
    return datetime(year, month, day, hour, 0, tzinfo=UTC)


def text(response) -> str:
    return response.get_data(as_text=True)


def test_entries_are_grouped_by_month_with_the_months_totals(
    client, session, subscriber, frozen_clock
):
    account = subscriber.account
    book(
        session,
        frozen_clock,
        account,
        at(2026, 11, 3),
        EntryKind.PAYMENT,
        1000_00,
        "p1",
        "Оплата в офисе",
    )
    book(
        session,
        frozen_clock,
        account,
        at(2026, 11, 4),
        EntryKind.CHARGE,
        -250_00,
        "c1",
        "Абонентская плата",
    )
    book(
        session,
        frozen_clock,
        account,
        at(2026, 12, 2),
        EntryKind.CHARGE,
        -100_00,
        "c2",
        "Абонентская плата",
    )
    html = text(client.get("/history/", headers=EN))
    december, november = html.index('id="month-2026-12"'), html.index('id="month-2026-11"')
    assert december < november
    assert "December 2026" in html and "November 2026" in html
    november_totals = html[november : html.index("</dl>", november)]
    assert "1,000.00\xa0RUB" in november_totals and "250.00\xa0RUB" in november_totals
    assert "Balance at the month" in november_totals and "750.00\xa0RUB" in november_totals
    december_totals = html[december : html.index("</dl>", december)]
    assert "Balance now" in december_totals and "650.00\xa0RUB" in december_totals


@pytest.mark.parametrize(
    ("zone", "months"),
    [
        # 21:30 UTC on 31 December is already 00:30 on 1 January in Yalta.
        (None, ["month-2027-01", "month-2026-12"]),
        ("UTC", ["month-2026-12"]),
    ],
)
def test_months_follow_the_providers_configured_time_zone(
    app, client, auth, session, subscriber, frozen_clock, monkeypatch, zone, months
):
    if zone:
        monkeypatch.setitem(app.config, "PORTAL_TIMEZONE", zone)
    frozen_clock.set(datetime(2027, 1, 10, 9, 0, tzinfo=UTC))
    auth.login("reader", PASSWORD)  # three weeks on: signed in again
    account = subscriber.account
    book(session, frozen_clock, account, at(2026, 12, 31, 20), EntryKind.PAYMENT, 300_00, "a")
    book(
        session,
        frozen_clock,
        account,
        at(2026, 12, 31, 21).replace(minute=30),
        EntryKind.PAYMENT,
        5_00,
        "b",
    )
    html = text(client.get("/history/", headers=EN))
    assert re.findall(r'<li class="month" id="(month-[\d-]+)"', html) == months
    # The export writes the provider's time too.
    rows = read_csv(client.get("/history/export.csv"))
    assert rows[1][0] == ("31.12.2026 21:30" if zone else "01.01.2027 00:30")


def ledger_statements(app, client, url: str, headers=None) -> list[str]:
    with statements(app) as sent:
        assert client.get(url, headers=headers or {}).status_code == 200
    return [s for s in sent if "ledger_entries" in s]


def test_a_page_reads_its_entries_in_one_statement_however_long_the_history(
    app, client, session, subscriber, frozen_clock
):
    """The page's entries (a day's charges kept together, the "more" cursor) come from
    one keyset statement; the months' totals and the picture add a fixed few (the first
    page's months are the picture's, read once), whatever the length of the history."""

    def counted(entries: int, apart: timedelta):
        for n in reversed(range(entries)):  # booked in order, as the ledger books them
            moment = at(2026, 12, 19) - apart * n
            book(session, frozen_clock, account, moment, EntryKind.CHARGE, -1, f"{entries}:{n}")
        first = ledger_statements(app, client, "/history/")
        more = re.search(r'hx-get="([^"]+)" hx-trigger="revealed"', text(client.get("/history/")))
        later = ledger_statements(app, client, more.group(1).replace("&amp;", "&"), HTMX)
        kinds = ledger_statements(app, client, "/history/?kind=charge&period=12m")
        return first, later, kinds

    account = subscriber.account
    short = counted(40, timedelta(hours=8))  # two weeks
    long = counted(220, timedelta(days=2))  # more than a year: twelve months in the picture
    for few, many in zip(short, long, strict=True):
        pages = [s for s in many if "ORDER BY ledger_entries.id DESC" in s]
        assert len(pages) == 1, "\n".join(many)
        assert len(many) == len(few) <= 4, "\n".join(many)


def test_a_credited_payment_links_to_its_receipt(client, session, subscriber):
    payment = credited_payment(session, subscriber.account, amount=480_00)
    ledger.post(session, subscriber.account.id, EntryKind.PAYMENT, 5_00, key="cash")
    session.commit()
    html = text(client.get("/history/"))
    assert html.count('class="entry-receipt"') == 1
    assert f'href="/pay/{payment.id}/receipt"' in html
    assert client.get(f"/pay/{payment.id}/receipt").status_code == 200


def test_filters_live_in_the_url_and_narrow_the_list(client, session, subscriber, frozen_clock):
    account = subscriber.account
    book(session, frozen_clock, account, at(2026, 6, 3), EntryKind.PAYMENT, 7_00, "june")
    book(session, frozen_clock, account, at(2026, 11, 3), EntryKind.PAYMENT, 11_00, "nov")
    book(session, frozen_clock, account, at(2026, 12, 3), EntryKind.CHARGE, -12_00, "dec")
    book(session, frozen_clock, account, at(2026, 12, 4), EntryKind.PAYMENT, 13_00, "dec2")

    def amounts(query, headers=EN):
        html = text(client.get("/history/?" + query, headers=headers))
        return re.findall(r'class="entry-amount">([^<]+)<', html)

    assert amounts("") == ["+13.00\xa0RUB", "-12.00\xa0RUB", "+11.00\xa0RUB", "+7.00\xa0RUB"]
    assert amounts("period=month") == ["+13.00\xa0RUB", "-12.00\xa0RUB"]
    assert amounts("period=3m") == ["+13.00\xa0RUB", "-12.00\xa0RUB", "+11.00\xa0RUB"]
    assert amounts("period=12m&kind=payment") == ["+13.00\xa0RUB", "+11.00\xa0RUB", "+7.00\xa0RUB"]
    assert amounts("since=2026-06-01&until=2026-11-30") == ["+11.00\xa0RUB", "+7.00\xa0RUB"]
    assert amounts("period=custom&since=2026-11-01") == [
        "+13.00\xa0RUB",
        "-12.00\xa0RUB",
        "+11.00\xa0RUB",
    ]
    assert amounts("kind=charge", headers=EN | HTMX) == ["-12.00\xa0RUB"]
    # The form shows what is chosen, and the export link carries the same filters.
    html = text(client.get("/history/?period=3m&kind=payment", headers=EN))
    assert '<option value="3m" selected>' in html and '<option value="payment" selected>' in html
    assert 'href="/history/export.csv?period=3m&amp;kind=payment"' in html
    assert text(client.get("/history/?kind=refund", headers=EN)).count("Nothing matches") == 1


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=2026-12-10&until=2026-12-01", "Дата окончания раньше даты начала."),
        ("since=99999-01-01", "Введите дату в виде ГГГГ-ММ-ДД."),
        ("until=1999-12-31", "Введите дату в виде ГГГГ-ММ-ДД."),
        ("since=2026-02-30", "Введите дату в виде ГГГГ-ММ-ДД."),
        ("since=%3Cscript%3E", "Введите дату в виде ГГГГ-ММ-ДД."),
        ("period=week", "Выберите период из списка."),
        ("period=%00", "Выберите период из списка."),
        ("kind=bonus", "Выберите из списка, что показать."),
        ("before=2147483648", "Ссылка на более ранние записи повреждена."),
        ("before=" + "9" * 400, "Ссылка на более ранние записи повреждена."),
        ("before=-1", "Ссылка на более ранние записи повреждена."),
        ("before=0", "Ссылка на более ранние записи повреждена."),
        ("before=abc", "Ссылка на более ранние записи повреждена."),
        ("before=%D9%A1%D9%A2", "Ссылка на более ранние записи повреждена."),
    ],
)
@pytest.mark.parametrize("path", ["/history/", "/history/export.csv"])
def test_bad_filters_are_a_400_with_a_clear_message(client, subscriber, path, query, message):
    for headers in ({}, HTMX):
        answer = client.get(f"{path}?{query}", headers=headers)
        assert answer.status_code == 400
        assert message in text(answer)
        assert 'role="alert"' in text(answer)


def test_the_next_page_comes_by_htmx_and_by_a_plain_link(client, session, subscriber, frozen_clock):
    account = subscriber.account
    for n in range(45):
        book(
            session,
            frozen_clock,
            account,
            at(2026, 12, 1, 0).replace(minute=n),
            EntryKind.CHARGE,
            -(n + 1),
            f"c{n}",
            f"charge {n}",
        )
    html = text(client.get("/history/"))
    assert "charge 44<" in html and "charge 15<" in html and "charge 14<" not in html
    more = re.search(r'<li class="more" hx-get="([^"]+)" hx-trigger="revealed"', html).group(1)
    assert re.search(r'<a class="button" rel="next" href="' + re.escape(more) + '"', html)
    fragment = text(client.get(more.replace("&amp;", "&"), headers=HTMX))
    assert "<html" not in fragment and "<ol" not in fragment
    assert "charge 14<" in fragment and "charge 0<" in fragment
    assert 'id="month-2026-12"' not in fragment  # the month's heading is on the first page
    page = text(client.get(more.replace("&amp;", "&")))  # without JavaScript: a whole page
    assert "<html" in page and 'id="month-2026-12"' in page and "charge 14<" in page


def test_the_more_link_keeps_the_filters(client, session, subscriber, frozen_clock):
    account = subscriber.account
    for n in range(35):
        book(
            session,
            frozen_clock,
            account,
            at(2026, 12, 1, 0).replace(minute=n),
            EntryKind.PAYMENT,
            n + 1,
            f"p{n}",
        )
        book(
            session,
            frozen_clock,
            account,
            at(2026, 12, 1, 1).replace(minute=n),
            EntryKind.CHARGE,
            -1,
            f"c{n}",
        )
    html = text(client.get("/history/?kind=payment&period=month"))
    more = re.search(r'hx-get="([^"]+)" hx-trigger="revealed"', html).group(1).replace("&amp;", "&")
    assert "kind=payment" in more and "period=month" in more
    fragment = text(client.get(more, headers=HTMX))
    assert fragment.count('class="entry entry-payment"') == 5
    assert "entry-charge" not in fragment


# --- the picture -------------------------------------------------------------------------


def bars(html: str) -> int:
    return html.count('class="chart-paid"')


def test_no_picture_without_entries(client, subscriber):
    html = text(client.get("/history/"))
    assert 'class="chart-svg"' not in html and "Платежей и списаний пока нет." in html


def test_the_picture_of_one_month(client, session, subscriber, frozen_clock):
    book(session, frozen_clock, subscriber.account, at(2026, 12, 5), EntryKind.PAYMENT, 600_00, "p")
    html = text(client.get("/history/", headers=EN))
    svg = html[
        html.index('<svg class="chart-svg"') : html.index("</svg>", html.index('class="chart-svg"'))
    ]
    assert bars(svg) == 1 and svg.count('class="chart-balance-dot"') == 1
    assert 'role="img"' in svg and 'aria-labelledby="chart-title chart-summary"' in svg
    assert "December 2026 – December 2026: paid 600.00\xa0RUB" in svg
    # Colours come from the stylesheet (light and dark), never fixed in the picture.
    assert "fill=" not in svg and "style=" not in svg
    table = html[html.index('<details class="chart-table">') : html.index("</details>")]
    assert "December 2026" in table and "600.00\xa0RUB" in table


def test_the_picture_of_twelve_months(client, session, subscriber, frozen_clock):
    for month in range(1, 16):
        year, month_ = 2025 + (month + 8) // 12, (month + 8) % 12 + 1
        book(
            session,
            frozen_clock,
            subscriber.account,
            at(year, month_, 10),
            EntryKind.PAYMENT,
            month * 100,
            f"m{month}",
        )
    html = text(client.get("/history/"))
    svg = html[
        html.index('<svg class="chart-svg"') : html.index("</svg>", html.index('class="chart-svg"'))
    ]
    assert bars(svg) == 12 and '<polyline class="chart-balance"' in svg
    assert svg.count(">2026<") == 1  # the year under the first month and under January
    assert svg.count(">янв<") == 1 and svg.count(">дек<") == 1
    # Inside its 360-unit viewBox, every bar and label.
    xs = [float(x) for x in re.findall(r' x="([\d.]+)"', svg)]
    assert xs and min(xs) >= 0 and max(xs) <= 360


# --- the CSV export ----------------------------------------------------------------------


def read_csv(answer) -> list[list[str]]:
    """As a spreadsheet reads it: UTF-8 with its BOM, `;` between cells."""
    assert answer.data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig")), delimiter=";"))


def test_csv_export_reads_back_as_a_spreadsheet_would(client, session, subscriber, frozen_clock):
    account = subscriber.account
    payment = credited_payment(session, account, amount=1234_56)
    session.commit()
    book(
        session,
        frozen_clock,
        account,
        at(2026, 12, 1, 21),
        EntryKind.CHARGE,
        -16_00,
        "c",
        "Тариф «Город»; ТВ",
    )
    book(
        session,
        frozen_clock,
        account,
        at(2026, 12, 2),
        EntryKind.CORRECTION,
        -1_00,
        "x",
        '=HYPERLINK("http://evil")',
    )
    book(
        session, frozen_clock, account, at(2026, 12, 3), EntryKind.CORRECTION, 1_00, "y", "@SUM(A1)"
    )
    book(session, frozen_clock, account, at(2026, 12, 4), EntryKind.CORRECTION, 2_00, "z", "+1-2")
    answer = client.get("/history/export.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="history-{account.contract_number}.csv"'
    )
    rows = read_csv(answer)
    assert rows[0] == [
        "Дата и время",
        "Вид",
        "Описание",
        "За день",
        "Сумма, ₽",
        "Баланс после, ₽",
        "Квитанция",
    ]
    assert [row[2] for row in rows[1:4]] == ["'+1-2", "'@SUM(A1)", '\'=HYPERLINK("http://evil")']
    charge = rows[4]
    assert charge[0] == "02.12.2026 00:00"  # the provider's time: 21:00 UTC is midnight in Yalta
    assert charge[1:] == ["Списание", "Тариф «Город»; ТВ", "", "-16,00", "1218,56", ""]
    paid = rows[5]
    assert paid[4:6] == ["1234,56", "1234,56"] and paid[6].isdigit()
    assert len(rows) == 6
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "@")), cell
            assert not cell.startswith("-") or re.fullmatch(r"-\d+,\d\d", cell), cell
    assert payment.id


def test_csv_export_follows_the_filters_over_every_page(client, session, subscriber, frozen_clock):
    account = subscriber.account
    for n in range(70):
        book(
            session,
            frozen_clock,
            account,
            at(2026, 12, 1, 0).replace(minute=n % 60, hour=n // 60),
            EntryKind.PAYMENT,
            n + 1,
            f"p{n}",
        )
    book(session, frozen_clock, account, at(2026, 12, 2), EntryKind.CHARGE, -1, "c")
    rows = read_csv(client.get("/history/export.csv?kind=payment&period=month"))
    assert len(rows) == 1 + 70
    assert {row[1] for row in rows[1:]} == {"Оплата"}
