"""The console's payments queues (payments on review, noted refunds) and its logs
(payments, text messages)."""

import re
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from portal.domain import ledger, sms
from portal.domain.payments import settle
from portal.models import (
    Account,
    AuditEvent,
    EntryKind,
    LedgerEntry,
    Payment,
    PaymentStatus,
    QueueResolution,
    SmsStatus,
    StaffRole,
)
from tests.conftest import TEST_SECRET_KEY, csrf_from
from tests.factories import (
    create_payment,
    create_subscriber,
    noted_refund,
    pay,
    payment_on_review,
)
from tests.web.test_staff_subscribers import signed_in_staff

REASON = "Звонок абонента, чек банка"


def resolution_form(client, page: str, item_id: int, action: str, **fields) -> dict:
    """The form of one queue item as the page shows it, with a button pressed."""
    html = client.get(page).get_data(as_text=True)
    assert f'id="reason-{item_id}"' in html, "the item is not in the queue"
    start = html.index(f'id="reason-{item_id}"')
    form_start = html.rindex("<form", 0, start)
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', html[form_start:]).group(1)
    form = {"action": action, "reason": REASON, "key": key, "csrf_token": csrf_from(html)}
    form.update(fields)
    return form


def entries(session, key: str) -> list[LedgerEntry]:
    return session.scalars(sa.select(LedgerEntry).where(LedgerEntry.idempotency_key == key)).all()


def balance_holds(session, account_id: int) -> int:
    """The cached balance, checked against the sum of the ledger's entries."""
    session.expire_all()
    balance = session.get(Account, account_id).balance
    assert balance == ledger.balance_from_entries(session, account_id)
    return balance


def resolutions(session, item: str) -> int:
    return session.scalar(
        sa.select(sa.func.count(QueueResolution.id)).where(QueueResolution.item == item)
    )


def events(session, name: str) -> list[AuditEvent]:
    return session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)
    ).all()


# --- payments on review ------------------------------------------------------------------


@pytest.fixture
def on_review(session):
    """A 500 ₽ payment the acquirer reported as 450 ₽ paid."""
    account = create_subscriber(session, contract="770001", name="Пётр Review").account
    payment = payment_on_review(session, account, expected=500_00, received=450_00)
    session.commit()
    return payment


def test_the_review_queue_shows_expected_and_received(client, session, on_review):
    signed_in_staff(client, session, role=StaffRole.ACCOUNTANT)
    html = client.get("/staff/payments/review").get_data(as_text=True)
    item = html[html.index(f'id="review-{on_review.id}"') :]
    assert "770001" in item and "Пётр Review" in item
    assert "500,00" in item and "450,00" in item
    assert on_review.provider_payment_id in item


def test_credit_credits_what_was_received_once(client, session, on_review):
    member = signed_in_staff(client, session)
    form = resolution_form(client, "/staff/payments/review", on_review.id, "credit")
    path = f"/staff/payments/review/{on_review.id}"
    first, again = client.post(path, data=form), client.post(path, data=form)
    assert first.status_code == again.status_code == 303
    credited = entries(session, f"payment:{on_review.id}")
    assert [(e.kind, e.amount) for e in credited] == [(EntryKind.PAYMENT, 450_00)]
    assert balance_holds(session, on_review.account_id) == 450_00
    session.expire_all()
    assert session.get(Payment, on_review.id).status is PaymentStatus.SUCCEEDED
    (event,) = events(session, "payment.review_resolved")
    assert event.actor == f"staff:{member.id}" and event.account_id == on_review.account_id
    assert event.data["outcome"] == "credited" and event.data["reason"] == REASON
    assert event.data["before"] == {"queue": "open", "status": "review", "balance": 0}
    assert event.data["after"] == {"queue": "credited", "status": "succeeded", "balance": 450_00}
    # A late notice of the same payment, settled again, credits nothing more.
    assert (
        settle.credit(
            session, session.get(Payment, on_review.id), "test", block_threshold=0
        ).created
        is False
    )
    assert len(entries(session, f"payment:{on_review.id}")) == 1
    assert f'id="review-{on_review.id}"' not in client.get("/staff/payments/review").get_data(
        as_text=True
    )


def test_another_form_finds_the_payment_resolved(client, session, on_review):
    signed_in_staff(client, session)
    path = f"/staff/payments/review/{on_review.id}"
    first = resolution_form(client, "/staff/payments/review", on_review.id, "credit")
    other = dict(first, key="another-form-key-0123", action="refuse")
    assert client.post(path, data=first).status_code == 303
    answer = client.post(path, data=other)
    assert answer.status_code == 409
    assert "Уже решено" in answer.get_data(as_text=True)
    session.expire_all()
    assert session.get(Payment, on_review.id).status is PaymentStatus.SUCCEEDED
    assert resolutions(session, f"payment:{on_review.id}") == 1
    assert balance_holds(session, on_review.account_id) == 450_00


def test_refuse_cancels_and_credits_nothing(client, session, on_review):
    member = signed_in_staff(client, session)
    form = resolution_form(client, "/staff/payments/review", on_review.id, "refuse")
    assert client.post(f"/staff/payments/review/{on_review.id}", data=form).status_code == 303
    session.expire_all()
    payment = session.get(Payment, on_review.id)
    assert payment.status is PaymentStatus.CANCELED and payment.cancel_reason == "refused_by_staff"
    assert entries(session, f"payment:{on_review.id}") == []
    assert balance_holds(session, on_review.account_id) == 0
    (event,) = events(session, "payment.review_resolved")
    assert event.actor == f"staff:{member.id}" and event.data["outcome"] == "refused"
    assert event.data["before"] == {"queue": "open", "status": "review"}
    assert event.data["after"] == {"queue": "refused", "status": "canceled"}


def test_a_reason_typed_on_several_lines_is_taken(client, session, on_review):
    signed_in_staff(client, session)
    reason = "Звонок абонента\r\nчек банка приложен"
    form = resolution_form(client, "/staff/payments/review", on_review.id, "handled", reason=reason)
    assert client.post(f"/staff/payments/review/{on_review.id}", data=form).status_code == 303
    (event,) = events(session, "payment.review_resolved")
    assert event.data["outcome"] == "handled"


def test_mark_handled_takes_it_off_the_queue_and_moves_nothing(client, session, on_review):
    signed_in_staff(client, session)
    form = resolution_form(client, "/staff/payments/review", on_review.id, "handled")
    assert client.post(f"/staff/payments/review/{on_review.id}", data=form).status_code == 303
    session.expire_all()
    assert session.get(Payment, on_review.id).status is PaymentStatus.REVIEW
    assert balance_holds(session, on_review.account_id) == 0
    html = client.get("/staff/payments/review").get_data(as_text=True)
    assert f'id="review-{on_review.id}"' not in html
    (event,) = events(session, "payment.review_resolved")
    assert event.data["outcome"] == "handled"
    assert (event.data["before"], event.data["after"]) == ({"queue": "open"}, {"queue": "handled"})


@pytest.mark.parametrize(
    ("remote", "message"),
    [
        ({"status": "pending"}, "не сообщил об оплате"),
        ({"currency": "USD", "received": 500_00}, "в другой валюте"),
    ],
)
def test_what_was_not_paid_in_roubles_is_not_credited(client, session, remote, message):
    received = remote.pop("received", 450_00)
    payment = payment_on_review(session, received=received, **remote)
    session.commit()
    signed_in_staff(client, session)
    html = client.get("/staff/payments/review").get_data(as_text=True)
    item = html[html.index(f'id="review-{payment.id}"') :]
    assert re.search(r'value="credit"[^>]*disabled', item[: item.index("</form>")])
    form = resolution_form(client, "/staff/payments/review", payment.id, "credit")
    answer = client.post(f"/staff/payments/review/{payment.id}", data=form)
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    assert entries(session, f"payment:{payment.id}") == []
    assert resolutions(session, f"payment:{payment.id}") == 0


def test_a_payment_not_on_review_is_409(client, session):
    account = create_subscriber(session).account
    payment = pay(session, create_payment(session, account))
    session.commit()
    signed_in_staff(client, session)
    page = client.get("/staff/payments/review").get_data(as_text=True)
    form = {"action": "refuse", "reason": REASON, "key": "k" * 20, "csrf_token": csrf_from(page)}
    answer = client.post(f"/staff/payments/review/{payment.id}", data=form)
    assert answer.status_code == 409
    session.expire_all()
    assert session.get(Payment, payment.id).status is PaymentStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/staff/payments/review/999999", 404),
        ("/staff/payments/review/99999999999", 404),
        ("/staff/payments/review/0", 404),
        ("/staff/payments/refunds/999999", 404),
    ],
)
def test_ids_that_name_nothing_are_404(client, session, path, status):
    signed_in_staff(client, session)
    page = client.get("/staff/").get_data(as_text=True)
    form = {"action": "handled", "reason": REASON, "key": "k" * 20, "csrf_token": csrf_from(page)}
    assert client.post(path, data=form).status_code == status


def test_an_audit_event_that_is_no_refund_is_404(client, session, on_review):
    signed_in_staff(client, session)
    mismatch = events(session, "payment.amount_mismatch")[0]
    page = client.get("/staff/").get_data(as_text=True)
    form = {"action": "handled", "reason": REASON, "key": "k" * 20, "csrf_token": csrf_from(page)}
    assert client.post(f"/staff/payments/refunds/{mismatch.id}", data=form).status_code == 404


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reason": ""}, "Укажите причину."),
        ({"reason": "   "}, "Укажите причину."),
        ({"reason": "x" * 301}, "Слишком много символов"),
        ({"action": "delete"}, "Выберите, что сделать."),
        ({"action": ""}, "Выберите, что сделать."),
        ({"key": "short"}, ""),
    ],
)
def test_a_bad_resolution_changes_nothing(client, session, on_review, fields, message):
    signed_in_staff(client, session)
    form = resolution_form(client, "/staff/payments/review", on_review.id, "credit")
    answer = client.post(f"/staff/payments/review/{on_review.id}", data=dict(form, **fields))
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    session.expire_all()
    assert session.get(Payment, on_review.id).status is PaymentStatus.REVIEW
    assert balance_holds(session, on_review.account_id) == 0


# --- refunds noted but not applied -------------------------------------------------------


@pytest.fixture
def refund_of_review(session):
    """A payment credited from review (450 ₽ of 500 ₽), whose 450 ₽ refund was noted
    while it was still on review (record_refund takes only credited payments)."""
    payment = payment_on_review(session, expected=500_00, received=450_00)
    event = noted_refund(session, payment, amount=450_00)
    from portal.domain.payments import review

    review.resolve_payment(
        session,
        payment.id,
        review.Outcome.CREDITED,
        reason="test",
        form_key="test-credit-0000000",
        staff_id=create_staff_id(session),
        block_threshold=0,
    )
    session.commit()
    return payment, event


def create_staff_id(session) -> int:
    from tests.factories import create_staff

    return create_staff(session, role=StaffRole.ACCOUNTANT).id


def test_a_noted_refund_is_applied_once(client, session, refund_of_review):
    payment, event = refund_of_review
    member = signed_in_staff(client, session)
    html = client.get("/staff/payments/refunds").get_data(as_text=True)
    assert f'id="refund-{event.id}"' in html and 'value="apply"' in html
    form = resolution_form(client, "/staff/payments/refunds", event.id, "apply")
    path = f"/staff/payments/refunds/{event.id}"
    assert client.post(path, data=form).status_code == 303
    assert client.post(path, data=form).status_code == 303
    key = f"refund:sandbox:{event.data['refund_id']}"
    assert [(e.kind, e.amount) for e in entries(session, key)] == [(EntryKind.REFUND, -450_00)]
    assert balance_holds(session, payment.account_id) == 0
    (resolved,) = events(session, "payment.refund_resolved")
    assert resolved.actor == f"staff:{member.id}" and resolved.data["outcome"] == "applied"
    assert resolved.data["before"] == {"queue": "open", "balance": 450_00}
    assert resolved.data["after"] == {"queue": "applied", "balance": 0}
    # The acquirer's notice of the same refund, coming again, debits nothing more.
    from portal.domain.payments.acquirers.base import RemoteRefund
    from tests.factories import RefundingAcquirer

    again = RemoteRefund(
        event.data["refund_id"], payment.provider_payment_id, "succeeded", 450_00, "RUB"
    )
    settle.record_refund(session, RefundingAcquirer(again), again.refund_id, address=None)
    assert len(entries(session, key)) == 1
    assert f'id="refund-{event.id}"' not in client.get("/staff/payments/refunds").get_data(
        as_text=True
    )


def apply_as_staff(client, session, event):
    """A noted refund applied from the queue by a staff member signed in for it."""
    session.commit()
    signed_in_staff(client, session)
    form = resolution_form(client, "/staff/payments/refunds", event.id, "apply")
    return client.post(f"/staff/payments/refunds/{event.id}", data=form)


def test_a_refund_larger_than_the_credit_is_not_applied(client, session):
    payment = pay(session, create_payment(session, create_subscriber(session).account))
    answer = apply_as_staff(client, session, noted_refund(session, payment, amount=900_00))
    assert answer.status_code == 400
    assert "Возврат больше" in answer.get_data(as_text=True)
    assert balance_holds(session, payment.account_id) == 500_00


def test_a_refund_past_what_is_left_of_the_payment_is_not_applied(client, session):
    """The acquirer gave back 300 ₽ of the 500 ₽ already; a noted refund of 300 ₽ more
    would give back more than was paid."""
    from portal.domain.payments.acquirers.base import RemoteRefund
    from tests.factories import RefundingAcquirer

    payment = pay(session, create_payment(session, create_subscriber(session).account))
    earlier = RemoteRefund("r-earlier", payment.provider_payment_id, "succeeded", 300_00, "RUB")
    settle.record_refund(session, RefundingAcquirer(earlier), "r-earlier", address=None)
    answer = apply_as_staff(client, session, noted_refund(session, payment, amount=300_00))
    assert answer.status_code == 400
    assert "больше, чем осталось" in answer.get_data(as_text=True)
    assert balance_holds(session, payment.account_id) == 200_00


def test_an_unknown_refund_is_read_only_until_marked_handled(client, session):
    event = noted_refund(session, refund_id="rf-unknown-1")
    noted_refund(session, refund_id="rf-unknown-1")  # the acquirer said it again
    session.commit()
    member = signed_in_staff(client, session, role=StaffRole.ACCOUNTANT)
    html = client.get("/staff/payments/refunds").get_data(as_text=True)
    assert html.count("rf-unknown-1</h2>") == 1
    assert 'value="apply"' not in html and "Только для чтения" in html
    latest = events(session, "payment.refund_noted")[-1]
    apply = resolution_form(client, "/staff/payments/refunds", latest.id, "apply")
    assert client.post(f"/staff/payments/refunds/{latest.id}", data=apply).status_code == 400
    handled = dict(apply, action="handled")
    assert client.post(f"/staff/payments/refunds/{latest.id}", data=handled).status_code == 303
    # The older note of the same refund is the same item: resolved already.
    older = dict(handled, key="another-form-key-0123")
    assert client.post(f"/staff/payments/refunds/{event.id}", data=older).status_code == 409
    (resolved,) = events(session, "payment.refund_resolved")
    assert resolved.actor == f"staff:{member.id}" and resolved.data["outcome"] == "handled"
    assert (resolved.data["before"], resolved.data["after"]) == (
        {"queue": "open"},
        {"queue": "handled"},
    )
    assert "rf-unknown-1" not in client.get("/staff/payments/refunds").get_data(as_text=True)


# --- roles ---------------------------------------------------------------------------------


QUEUE_PAGES = ["/staff/payments/", "/staff/payments/review", "/staff/payments/refunds"]


@pytest.mark.parametrize("role", [StaffRole.DISPATCHER, StaffRole.MARKETING])
def test_payments_are_refused_to_other_roles(client, session, on_review, role):
    signed_in_staff(client, session, role=role)
    for path in QUEUE_PAGES:
        assert client.get(path).status_code == 403, path
    token = csrf_from(client.get("/staff/").get_data(as_text=True))
    form = {"action": "credit", "reason": REASON, "key": "k" * 20, "csrf_token": token}
    assert client.post(f"/staff/payments/review/{on_review.id}", data=form).status_code == 403
    assert balance_holds(session, on_review.account_id) == 0


@pytest.mark.parametrize("role", [StaffRole.ACCOUNTANT, StaffRole.DISPATCHER, StaffRole.MARKETING])
def test_the_sms_log_is_for_operators(client, session, role):
    signed_in_staff(client, session, role=role)
    assert client.get("/staff/sms/").status_code == 403


@pytest.mark.parametrize("role", [StaffRole.OPERATOR, StaffRole.ACCOUNTANT, StaffRole.ADMIN])
def test_payments_open_for_operators_accountants_and_admins(client, session, role):
    signed_in_staff(client, session, role=role)
    for path in QUEUE_PAGES:
        assert client.get(path).status_code == 200, path


# --- the payment log -----------------------------------------------------------------------


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def logged(session):
    """Payments around the provider's midnight (Europe/Simferopol, UTC+3)."""
    one = create_subscriber(session, contract="880001").account
    two = create_subscriber(session, contract="880002").account
    found = {
        "23:59 on the 23rd": create_payment(session, one, created_at=at(2026, 11, 23, 20, 59)),
        "00:01 on the 24th": create_payment(session, one, created_at=at(2026, 11, 23, 21, 1)),
        "23:59 on the 24th": create_payment(session, two, created_at=at(2026, 11, 24, 20, 59)),
        "00:00 on the 25th": create_payment(session, two, created_at=at(2026, 11, 24, 21, 0)),
    }
    pay(session, found["00:01 on the 24th"])
    session.commit()
    return found


def shown_payments(client, **query) -> list[int]:
    answer = client.get("/staff/payments/", query_string=query)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return [int(n) for n in re.findall(r'id="payment-(\d+)"', answer.get_data(as_text=True))]


def test_the_log_filters_by_the_providers_days(client, session, logged):
    signed_in_staff(client, session, role=StaffRole.ACCOUNTANT)
    ids = {name: p.id for name, p in logged.items()}
    assert shown_payments(client, since="2026-11-24", until="2026-11-24") == [
        ids["23:59 on the 24th"],
        ids["00:01 on the 24th"],
    ]
    assert shown_payments(client, until="2026-11-23") == [ids["23:59 on the 23rd"]]
    assert shown_payments(client, since="2026-11-25", until="2026-11-25") == [
        ids["00:00 on the 25th"]
    ]


def test_the_log_filters_by_state_and_contract(client, session, logged):
    signed_in_staff(client, session)
    ids = {name: p.id for name, p in logged.items()}
    # Days as well: payments other tests committed (the concurrent one) stay out.
    november = {"since": "2026-11-01", "until": "2026-11-25"}
    assert shown_payments(client, state="succeeded", **november) == [ids["00:01 on the 24th"]]
    assert shown_payments(client, contract="880002") == [
        ids["00:00 on the 25th"],
        ids["23:59 on the 24th"],
    ]
    assert shown_payments(client, contract="no-such") == []


def test_the_log_pages_by_id_newest_first(client, session, logged, monkeypatch):
    from portal.domain.payments import log

    monkeypatch.setattr(log, "PAGE", 3)
    signed_in_staff(client, session)
    ids = sorted((p.id for p in logged.values()), reverse=True)
    html = client.get("/staff/payments/", query_string={"until": "2026-11-25"}).get_data(
        as_text=True
    )
    assert [int(n) for n in re.findall(r'id="payment-(\d+)"', html)] == ids[:3]
    older = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert f"before={ids[2]}" in older
    rest = client.get(older).get_data(as_text=True)
    assert [int(n) for n in re.findall(r'id="payment-(\d+)"', rest)] == ids[3:]
    assert 'rel="next"' not in rest


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"since": "2026-13-01"}, 400, "Введите дату в виде ГГГГ-ММ-ДД."),
        ({"until": "24.11.2026"}, 400, "Введите дату в виде ГГГГ-ММ-ДД."),
        ({"since": "0001-01-01"}, 400, "Введите дату в виде ГГГГ-ММ-ДД."),
        ({"since": "9" * 200}, 400, "Введите дату в виде ГГГГ-ММ-ДД."),
        ({"since": "2026-11-25", "until": "2026-11-01"}, 400, "Дата окончания раньше даты начала."),
        ({"state": "stolen"}, 400, "Выберите состояние из списка."),
        ({"contract": "x" * 40}, 400, "Слишком много символов"),
        ({"before": "abc"}, 200, ""),
        ({"before": "99999999999999999999"}, 200, ""),
        ({"before": "-5"}, 200, ""),
    ],
)
def test_bad_filters_are_400_or_ignored(client, session, logged, query, status, message):
    signed_in_staff(client, session)
    answer = client.get("/staff/payments/", query_string=query)
    assert answer.status_code == status
    assert message in answer.get_data(as_text=True)


def test_the_log_answers_htmx_with_its_results_only(client, session, logged):
    signed_in_staff(client, session)
    answer = client.get(
        "/staff/payments/", query_string={"contract": "880001"}, headers={"HX-Request": "true"}
    )
    html = answer.get_data(as_text=True)
    assert "<html" not in html and 'id="payment-' in html


# --- the SMS log ---------------------------------------------------------------------------


@pytest.fixture
def messages(session, frozen_clock):
    person = create_subscriber(session, phone="+7 978 555-12-34", contract="990001").person
    sealed = sms.queue(
        session,
        to_phone="+79785551234",
        text="Ваш новый пароль: tiger-secret-77",
        purpose="recovery",
        person_id=person.id,
        sensitive=True,
        secret_key=TEST_SECRET_KEY,
    )
    plain = sms.queue(
        session, to_phone="+79780001122", text="Пароль изменён.", purpose="password_changed"
    )
    plain.status = SmsStatus.FAILED
    session.commit()
    return {"sealed": sealed, "plain": plain}


def shown_sms(client, **query) -> list[int]:
    answer = client.get("/staff/sms/", query_string=query)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return [int(n) for n in re.findall(r'id="sms-(\d+)"', answer.get_data(as_text=True))]


def test_the_sms_log_never_shows_a_sealed_text(client, session, messages):
    signed_in_staff(client, session)
    html = client.get("/staff/sms/").get_data(as_text=True)
    assert "tiger-secret-77" not in html and messages["sealed"].body not in html
    assert "Пароль изменён." in html and "recovery" in html


def test_the_sms_log_filters(client, session, messages):
    signed_in_staff(client, session)
    sealed, plain = messages["sealed"].id, messages["plain"].id
    assert shown_sms(client, status="failed") == [plain]
    assert shown_sms(client, phone="8 978 555-12-34") == [sealed]
    assert shown_sms(client, phone="1122") == [plain]
    assert shown_sms(client, since="2026-11-24", until="2026-11-24") == [plain, sealed]
    assert shown_sms(client, since="2026-11-25") == []
    assert shown_sms(client, contract="990001") == [sealed]  # the holder's messages
    assert shown_sms(client, contract="990001", status="failed") == []
    assert shown_sms(client, contract="no-such") == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"phone": "abc"}, "Введите номер телефона или хотя бы четыре последние цифры."),
        ({"phone": "12"}, "Введите номер телефона или хотя бы четыре последние цифры."),
        ({"phone": "%%%%"}, "Введите номер телефона или хотя бы четыре последние цифры."),
        ({"status": "lost"}, "Выберите статус из списка."),
        ({"since": "yesterday"}, "Введите дату в виде ГГГГ-ММ-ДД."),
        ({"since": "2026-11-25", "until": "2026-11-01"}, "Дата окончания раньше даты начала."),
        ({"contract": "9" * 40}, "Слишком много символов"),
        ({"contract": "99\x00"}, "недопустимые символы"),
    ],
)
def test_bad_sms_filters_are_400(client, session, messages, query, message):
    signed_in_staff(client, session)
    answer = client.get("/staff/sms/", query_string=query)
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)


@pytest.mark.parametrize("migrated_app", ["postgres"], indirect=True)
def test_concurrent_copies_of_a_resolution_credit_once(migrated_app):
    """Ten copies of one form posted at once (PostgreSQL only: real concurrency) credit
    once; every copy is answered as the first was."""
    from sqlalchemy.orm import Session

    from portal.extensions import db
    from tests.factories import create_staff
    from tests.web.test_staff_console import StaffAuth

    with migrated_app.app_context(), Session(db.engine) as setup:
        payment = payment_on_review(setup, expected=500_00, received=450_00)
        member = create_staff(setup)
        setup.commit()
        payment_id, account_id, login = payment.id, payment.account_id, member.login
    client = migrated_app.test_client()
    assert StaffAuth(client).login(login).status_code == 303
    form = resolution_form(client, "/staff/payments/review", payment_id, "credit")
    cookies = [
        (name, client.get_cookie(name, path=path).value, path)
        for name, path in (("portal_staff", "/staff/"), ("portal_session", "/"))
    ]
    barrier, codes = threading.Barrier(10), []

    def post() -> None:
        copy = migrated_app.test_client()
        for name, value, path in cookies:
            copy.set_cookie(name, value, path=path)
        barrier.wait()
        codes.append(copy.post(f"/staff/payments/review/{payment_id}", data=form).status_code)

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [303] * 10
    with migrated_app.app_context(), Session(db.engine) as check:
        assert len(entries(check, f"payment:{payment_id}")) == 1
        assert balance_holds(check, account_id) == 450_00
        assert check.get(Payment, payment_id).status is PaymentStatus.SUCCEEDED
