"""The history in the reader's language: what each entry is for is drawn from its kind and
its ledger key when the page (or the CSV) is drawn, not read from the text stored with
it (older entries hold Russian words, and the ledger is never rewritten). Names from the
catalogue and a correction's reason stay as the provider wrote them."""

import csv
import io
import re
from datetime import UTC, date, datetime

import pytest

from portal.domain import ledger, promised, suspension, tariff_change
from portal.domain.billing import charges
from portal.domain.payments import settle
from portal.domain.payments.acquirers.base import RemoteRefund
from portal.models import EntryKind
from tests.factories import PASSWORD, RefundingAcquirer, create_subscriber, credited_payment

DAY = date(2026, 12, 10)
# Each entry as the domain books it (its key and the words it stores), oldest first.
STORED = [
    (EntryKind.CREDIT, 300_00, promised.credit_key(1, DAY), "Обещанный платёж", None),
    (EntryKind.CHARGE, -10_00, promised.fee_key(1, DAY), "Плата за обещанный платёж", DAY),
    (EntryKind.CHARGE, -300_00, promised.back_key(7), promised.BACK_DESCRIPTION, DAY),
    (
        EntryKind.CHARGE,
        -50_00,
        suspension.activation_key(3),
        "Подключение добровольной блокировки",
        DAY,
    ),
    (
        EntryKind.CREDIT,
        50_00,
        suspension.activation_back_key(3),
        "Возврат платы за добровольную блокировку",
        None,
    ),
    (
        EntryKind.CREDIT,
        10_00,
        suspension.today_back_key(3),
        "Возврат списания за день добровольной блокировки",
        DAY,
    ),
    (EntryKind.CHARGE, -3_00, suspension.fee_key(3, DAY), suspension.FEE_DESCRIPTION, DAY),
    (EntryKind.CHARGE, -100_00, tariff_change.fee_key(5), "Город → Город+", DAY),
    (EntryKind.CREDIT, 100_00, tariff_change.fee_back_key(5), "Город → Город+", DAY),
    (EntryKind.CREDIT, 10_00, tariff_change.today_back_key(5), "Город", DAY),
    (EntryKind.CHARGE, -10_00, charges.charge_key(11, DAY), "Город", DAY),
    (EntryKind.CHARGE, -5_00, charges.charge_key(12, DAY), "ТВ+", DAY),
]
ENGLISH = [
    "Correction",
    "Refund of payment No. {payment}",
    "Online payment by card",
    "Monthly fee for the day",
    "The day's fee returned on a tariff change",
    "Tariff change fee returned",
    "Tariff change fee",
    "Fee for a paused day",
    "The day's charges returned for the pause",
    "Fee to pause the services returned",
    "Fee to pause the services",
    "Promised payment taken back",
    "Promised payment fee",
    "Promised payment",
]
# What a Russian reader saw before, word for word (the stored words), and still sees.
RUSSIAN = [
    "Корректировка",
    "Возврат оплаты №{payment}",
    "Онлайн-оплата картой",
    "Абонентская плата за день",
    "Возврат платы за день при смене тарифа",
    "Возврат платы за смену тарифа",
    "Плата за смену тарифа",
    "Плата за добровольную блокировку",
    "Возврат списания за день добровольной блокировки",
    "Возврат платы за добровольную блокировку",
    "Подключение добровольной блокировки",
    "Возврат обещанного платежа",
    "Плата за обещанный платёж",
    "Обещанный платёж",
]
# What stays as the provider wrote it, beside the line (names, a correction's reason).
PARTS = {
    "Correction": "Перерасчёт за аварию",
    "The day's fee returned on a tariff change": "Город",
    "Tariff change fee returned": "Город → Город+",
    "Tariff change fee": "Город → Город+",
}
CYRILLIC = re.compile("[А-Яа-яЁё]")


@pytest.fixture
def history(session, auth, frozen_clock):
    """A subscriber with one entry of every kind the portal books, each as the domain
    books it; returns the subscriber and the payment refunded."""
    frozen_clock.set(datetime(2026, 12, 10, 9, 0, tzinfo=UTC))
    new = create_subscriber(session, login="reader")
    account = new.account
    for kind, amount, key, words, day in STORED:
        ledger.post(session, account.id, kind, amount, key=key, description=words, service_date=day)
    payment = credited_payment(session, account, amount=1000_00)
    refund = RemoteRefund("r-1", payment.provider_payment_id, "succeeded", 200_00, "RUB")
    settle.record_refund(session, RefundingAcquirer(refund), "r-1", address=None)
    ledger.correct(
        session,
        account.id,
        25_00,
        reason="Перерасчёт за аварию",
        key="form:1",
        actor="staff:1",
        block_threshold=0,
    )
    session.commit()
    auth.login("reader", PASSWORD)
    return new, payment


def choose(session, person, language):
    person.person.locale = language
    session.commit()


def lines(page: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", found).strip()
        for found in re.findall(r'<span class="entry-what">(.*?)</span>', page, re.S)
    ]


def parts(page: str) -> dict[str, str]:
    """Each line's words beside it (its entry-part), by the line's words."""
    found = {}
    for item in page.split('<li class="entry ')[1:]:
        what = re.search(r'<span class="entry-what">(.*?)</span>', item, re.S)
        part = re.search(r'<span class="entry-part">(.*?)</span>', item, re.S)
        if what and part:
            found[what.group(1).strip()] = part.group(1).strip()
    return found


def read_csv(response) -> list[list[str]]:
    return list(
        csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";")
    )


def test_a_subscriber_who_chose_english_reads_every_line_in_english(client, session, history):
    subscriber, payment = history
    choose(session, subscriber, "en")
    page = client.get("/history/").get_data(as_text=True).replace("&#39;", "'")
    shown = lines(page)
    assert shown == [line.format(payment=payment.id) for line in ENGLISH]
    assert not [line for line in shown if CYRILLIC.search(line)]
    found = parts(page)
    for what, part in PARTS.items():
        assert found[what] == part
    assert "Город" in page and "ТВ+" in page  # the day's parts: the catalogue's names


def test_the_csv_of_an_english_reader_is_in_english(client, session, history):
    subscriber, payment = history
    choose(session, subscriber, "en")
    rows = read_csv(client.get("/history/export.csv"))
    described = [row[2] for row in rows[1:]]
    assert described[0] == "Перерасчёт за аварию"  # the Kind column says "Correction"
    assert rows[1][1] == "Correction"
    assert described[1:4] == [
        f"Refund of payment No. {payment.id}",
        "Online payment by card",
        "Monthly fee for the day: ТВ+",
    ]
    assert "Tariff change fee: Город → Город+" in described
    assert "Fee for a paused day" in described and "Promised payment" in described
    assert not [cell for cell in described[1:] if CYRILLIC.search(cell.split(": ")[0])]


def test_a_russian_reader_reads_what_was_stored(client, session, history):
    subscriber, payment = history
    choose(session, subscriber, "ru")
    page = client.get("/history/").get_data(as_text=True)
    assert lines(page) == [line.format(payment=payment.id) for line in RUSSIAN]
    rows = read_csv(client.get("/history/export.csv"))
    assert rows[2][2] == f"Возврат оплаты №{payment.id}"
    assert rows[3][2] == "Онлайн-оплата картой"


def test_words_the_portal_cannot_name_are_shown_as_stored(client, session, auth, frozen_clock):
    """An entry of no shape the portal books (written by hand, or by a tool of the
    provider's) keeps its stored words, or its kind's name when it has none."""
    frozen_clock.set(datetime(2026, 12, 10, 9, 0, tzinfo=UTC))
    new = create_subscriber(session, login="other")
    ledger.post(session, new.account.id, EntryKind.PAYMENT, 100_00, key="office:1", description="")
    ledger.post(
        session, new.account.id, EntryKind.PAYMENT, 50_00, key="office:2", description="Касса"
    )
    new.person.locale = "en"
    session.commit()
    auth.login("other", PASSWORD)
    assert lines(client.get("/history/").get_data(as_text=True)) == ["Касса", "Payment"]
