"""A credited payment's receipt: numbered once by the database, a page laid out for print
and the same receipt as a PDF (its text read back), never another subscriber's."""

import io
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from sqlalchemy.exc import DBAPIError, IntegrityError

from portal.domain.payments import receipts
from portal.models import Receipt
from tests.factories import (
    PASSWORD,
    create_payment,
    create_subscriber,
    credited_payment,
    pay,
    payment_on_review,
)

EN = {"Accept-Language": "en"}
FISCAL = {
    "registration": "succeeded",
    "fiscal_document_number": "3986",
    "fiscal_storage_number": "9999078900004312",
    "fiscal_attribute": "2617103416",
    "registered_at": "2026-12-01T09:00:05+00:00",
}


@pytest.fixture
def payer(session, auth, frozen_clock):
    frozen_clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    new = create_subscriber(session, login="payer", name="Анна Петровна Иванова")
    session.commit()
    auth.login("payer", PASSWORD)
    return new


def pdf_text(data: bytes) -> str:
    """The PDF's text as pypdf extracts it, runs of spaces and line breaks as one space
    (a long label wraps in its cell)."""
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_the_receipt_page_has_everything_a_receipt_says(client, session, payer):
    payment = credited_payment(session, payer.account, amount=1234_50, fiscal_receipt=FISCAL)
    session.commit()
    number = session.scalar(sa.select(Receipt.id).where(Receipt.payment_id == payment.id))
    html = client.get(f"/pay/{payment.id}/receipt").get_data(as_text=True)
    for fact in [
        f"Квитанция об оплате №{number}",
        "1 декабря 2026, 12:00",  # the moment it was credited, Yalta time
        "Анна Петровна Иванова",
        payer.account.contract_number,
        payer.account.personal_account,
        "1\xa0234,50\xa0₽",
        "Банковская карта",
        'ООО "ВанСити" (ПРИМЕР)',  # the provider's requisites from configuration
        "9103000000 / 910301001",
        "40702810000000000001",
        "043510607",
        "3986",  # the fiscal receipt's attributes, as the acquirer reported them
        "9999078900004312",
        "2617103416",
    ]:
        assert fact.replace('"', "&#34;") in html or fact in html, fact
    assert "data-print" in html and f'href="/pay/{payment.id}/receipt.pdf"' in html
    # The printed sheet carries no navigation (portal.css hides these in @media print).
    assert 'class="no-print receipt-actions"' in html


def test_the_pdf_says_what_the_page_says(client, session, payer):
    payment = credited_payment(session, payer.account, amount=1234_50, fiscal_receipt=FISCAL)
    session.commit()
    number = session.scalar(sa.select(Receipt.id).where(Receipt.payment_id == payment.id))
    answer = client.get(f"/pay/{payment.id}/receipt.pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert answer.headers["Content-Disposition"] == f'attachment; filename="receipt-{number}.pdf"'
    assert answer.data.startswith(b"%PDF-")
    found = pdf_text(answer.data)
    for fact in [
        f"Квитанция об оплате № {number}",
        "1 декабря 2026, 12:00",
        "Анна Петровна Иванова",
        payer.account.contract_number,
        "1 234,50 ₽",
        "Банковская карта",
        'ООО "ВанСити" (ПРИМЕР)',
        "9103000000 / 910301001",
        "Кассовый чек",
        "3986",
        "ТЕСТОВЫЙ РЕЖИМ",  # a sandbox payment says so on paper too
    ]:
        assert fact in found, fact
    english = pdf_text(client.get(f"/pay/{payment.id}/receipt.pdf", headers=EN).data)
    assert f"Payment receipt № {number}" in english and "Bank card" in english


def test_a_receipt_without_fiscal_details_says_they_are_to_come(client, session, payer):
    payment = credited_payment(session, payer.account)
    session.commit()
    html = client.get(f"/pay/{payment.id}/receipt", headers=EN).get_data(as_text=True)
    assert "has not reported the fiscal receipt" in html
    assert "has not reported the fiscal receipt" in pdf_text(
        client.get(f"/pay/{payment.id}/receipt.pdf", headers=EN).data
    )


def test_another_subscribers_receipt_is_404(client, session, payer):
    other = create_subscriber(session, login="other").account
    theirs = credited_payment(session, other)
    mine_unpaid = create_payment(session, payer.account)
    session.commit()
    for path in [
        f"/pay/{theirs.id}/receipt",
        f"/pay/{theirs.id}/receipt.pdf",
        f"/pay/{mine_unpaid.id}/receipt",  # not credited: no receipt yet
        f"/pay/{mine_unpaid.id}/receipt.pdf",
        "/pay/2147483647/receipt.pdf",
    ]:
        assert client.get(path).status_code == 404, path


def test_receipt_numbers_are_unique_and_never_reused(session, payer):
    first = credited_payment(session, payer.account)
    second = credited_payment(session, payer.account)
    numbers = session.scalars(
        sa.select(Receipt.id).where(Receipt.payment_id.in_([first.id, second.id]))
    ).all()
    assert len(set(numbers)) == 2
    # One receipt per payment: a second for the same payment is refused by the database.
    entry_id = session.scalar(
        sa.select(Receipt.ledger_entry_id).where(Receipt.payment_id == first.id)
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(
            Receipt(payment_id=first.id, ledger_entry_id=entry_id, issued_at=first.created_at)
        )
        session.flush()
    # A receipt is never taken back or renumbered, so its number is never handed out again.
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(sa.delete(Receipt).where(Receipt.payment_id == second.id))
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(sa.update(Receipt).where(Receipt.payment_id == second.id).values(id=10**6))
    third = credited_payment(session, payer.account)
    newest = session.scalar(sa.select(Receipt.id).where(Receipt.payment_id == third.id))
    assert newest > max(numbers)


def test_a_repeated_success_numbers_the_receipt_once(session, payer):
    payment = credited_payment(session, payer.account)
    pay(session, payment)  # the acquirer says so again
    assert session.scalar(sa.select(sa.func.count()).where(Receipt.payment_id == payment.id)) == 1


def credit_from_review(session, payment) -> None:
    """The staff credit what was received of a payment on review."""
    from portal.domain.payments import review
    from portal.models import ResolutionOutcome
    from tests.factories import create_staff

    review.resolve_payment(
        session,
        payment.id,
        ResolutionOutcome.CREDITED,
        reason="Пришло меньше",
        form_key="k" * 16,
        staff_id=create_staff(session).id,
        block_threshold=0,
    )


def test_a_payment_credited_from_review_gets_a_receipt_for_what_was_received(session, payer):
    payment = payment_on_review(session, payer.account, expected=500_00, received=450_00)
    assert session.scalar(sa.select(Receipt).where(Receipt.payment_id == payment.id)) is None
    credit_from_review(session, payment)
    found = receipts.receipt_of(session, [payer.account.id], payment.id)
    assert found.amount == 450_00


def test_the_fiscal_receipts_link_opens_where_the_acquirer_gave_one(client, session, payer):
    link = "https://ofd.example/receipt?fn=9999078900004312&i=3986&fp=2617103416"
    payment = credited_payment(
        session, payer.account, fiscal_receipt=FISCAL | {"url": link, "fiscal_provider_id": "7"}
    )
    forged = credited_payment(
        session, payer.account, fiscal_receipt=FISCAL | {"url": "javascript:alert(1)"}
    )
    session.commit()
    html = client.get(f"/pay/{payment.id}/receipt", headers=EN).get_data(as_text=True)
    assert f'<a href="{link.replace("&", "&amp;")}" rel="noopener noreferrer">' in html
    assert "Fiscal data operator" in html
    pdf = client.get(f"/pay/{payment.id}/receipt.pdf", headers=EN).data
    assert "Fiscal receipt online" in pdf_text(pdf)
    annotations = PdfReader(io.BytesIO(pdf)).pages[0].get("/Annots") or []
    assert {a.get_object()["/A"]["/URI"] for a in annotations} == {link}  # each line of it
    # Only a web address becomes a link; anything else the acquirer sends stays text.
    html = client.get(f"/pay/{forged.id}/receipt", headers=EN).get_data(as_text=True)
    assert 'href="javascript' not in html and "javascript:alert(1)" in html


def test_the_status_page_of_a_payment_credited_from_review_says_what_was_credited(
    client, session, payer
):
    """500 expected, 450 received and credited by the staff: the payment's page says
    450 is on the balance, as the receipt and the history do."""
    payment = payment_on_review(session, payer.account, expected=500_00, received=450_00)
    credit_from_review(session, payment)
    session.commit()
    html = client.get(f"/pay/{payment.id}", headers=EN).get_data(as_text=True)
    assert "450.00\xa0RUB" in html
    assert "500.00\xa0RUB" not in html


# --- refunds on the receipt ----------------------------------------------------------------


def refund(session, payment, refund_id: str, amount: int):
    """A refund the acquirer reports made, debited as its notification debits it."""
    from portal.domain.payments import settle
    from portal.domain.payments.acquirers.base import RemoteRefund
    from tests.factories import RefundingAcquirer

    remote = RemoteRefund(refund_id, payment.provider_payment_id, "succeeded", amount, "RUB")
    settle.record_refund(session, RefundingAcquirer(remote), refund_id, address=None)
    session.commit()


def test_a_partly_refunded_payments_receipt_says_how_much_and_when(
    client, session, auth, payer, frozen_clock
):
    payment = credited_payment(session, payer.account, amount=1000_00)
    frozen_clock.set(datetime(2026, 12, 3, 9, 30, tzinfo=UTC))
    refund(session, payment, "r-part", 300_00)
    auth.login("payer", PASSWORD)  # two days on: signed in afresh
    html = client.get(f"/pay/{payment.id}/receipt").get_data(as_text=True)
    assert "300,00\xa0₽" in html and "3 декабря 2026, 12:30" in html  # Yalta time
    english = client.get(f"/pay/{payment.id}/receipt", headers=EN).get_data(as_text=True)
    assert "Part of this payment was refunded: 300.00" in english
    assert english.count('class="receipt-refund"') == 1
    found = pdf_text(client.get(f"/pay/{payment.id}/receipt.pdf", headers=EN).data)
    assert "Part of this payment was refunded: 300.00" in found
    assert "Refunded" in found and "3 декабря" not in found


def test_a_payment_refunded_in_two_parts_says_it_was_refunded_in_full(
    client, session, auth, payer, frozen_clock
):
    payment = credited_payment(session, payer.account, amount=1000_00)
    frozen_clock.set(datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    refund(session, payment, "r-1", 400_00)
    frozen_clock.set(datetime(2026, 12, 4, 9, 0, tzinfo=UTC))
    refund(session, payment, "r-2", 600_00)
    refund(session, payment, "r-2", 600_00)  # the same notice again: debited once
    auth.login("payer", PASSWORD)
    html = client.get(f"/pay/{payment.id}/receipt", headers=EN).get_data(as_text=True)
    assert "This payment was refunded in full." in html
    assert html.count('class="receipt-refund"') == 2
    assert "400.00" in html and "600.00" in html
    assert "refunded in full" in pdf_text(
        client.get(f"/pay/{payment.id}/receipt.pdf", headers=EN).data
    )


def test_a_receipt_of_a_payment_not_refunded_says_nothing_of_refunds(client, session, payer):
    payment = credited_payment(session, payer.account)
    other = credited_payment(session, payer.account)
    session.commit()
    refund(session, other, "r-other", 100_00)
    html = client.get(f"/pay/{payment.id}/receipt", headers=EN).get_data(as_text=True)
    assert "refunded" not in html.lower() and "receipt-refund" not in html


def test_a_refund_the_staff_applied_is_on_the_receipt_too(client, session, payer):
    """A refund noted while its payment was on review, applied from the queue after the
    payment was credited: linked to that payment as a notified one is."""
    from portal.domain.payments import review
    from portal.models import StaffRole
    from tests.factories import create_staff, noted_refund

    payment = payment_on_review(session, payer.account, expected=500_00, received=450_00)
    event = noted_refund(session, payment, amount=450_00)
    staff_id = create_staff(session, role=StaffRole.ACCOUNTANT).id
    review.resolve_payment(
        session,
        payment.id,
        review.Outcome.CREDITED,
        reason="test",
        form_key="test-credit-0000000",
        staff_id=staff_id,
        block_threshold=0,
    )
    review.resolve_refund(
        session,
        event.id,
        review.Outcome.APPLIED,
        reason="test",
        form_key="test-refund-0000000",
        staff_id=staff_id,
    )
    session.commit()
    html = client.get(f"/pay/{payment.id}/receipt", headers=EN).get_data(as_text=True)
    assert "This payment was refunded in full." in html and "450.00" in html
