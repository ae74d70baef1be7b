"""Paying online through the sandbox acquirer, end to end over HTTP: the Pay page, the
acquirer's pages, the signed notification, the status page, the receipt; every state
and every kind of bad input."""

import json
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.domain import ledger, promised
from portal.domain.payments.acquirers import sandbox
from portal.models import (
    Account,
    AccountStatus,
    AuditEvent,
    EntryKind,
    LedgerEntry,
    Payment,
    PaymentStatus,
    Person,
    SandboxPayment,
)
from portal.models.payment import NotificationRefusal
from tests.conftest import csrf_from
from tests.factories import PASSWORD, create_subscriber, create_tariff

EN = {"Accept-Language": "en"}


@pytest.fixture
def notifications(monkeypatch):
    """The sandbox's notifications, kept instead of sent; deliver() posts them."""
    sent = []
    monkeypatch.setattr(
        "portal.web.payments.sandbox.deliver",
        lambda url, body, headers: sent.append((url, body, headers)),
    )
    return sent


@pytest.fixture
def subscriber(session, auth, frozen_clock):
    """Internet at 310 ₽ a month, 100 ₽ on the balance, signed in on 1 December 2026."""
    frozen_clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    tariff = create_tariff(session, price=310_00)
    new = create_subscriber(
        session, login="payer", balance=100_00, tariffs=[tariff], start=date(2026, 11, 1)
    )
    session.commit()
    auth.login("payer", PASSWORD)
    return new


def pay_form(client, path="/pay/"):
    html = client.get(path, headers=EN).get_data(as_text=True)
    key = re.search(r'name="creation_key" type="hidden" value="([0-9a-f]{32})"', html)
    return {"csrf_token": csrf_from(html), "creation_key": key.group(1), "method": "card"}


def start(client, amount="480", **fields):
    data = pay_form(client) | {"amount": amount} | fields
    return client.post("/pay/", data=data, headers=EN), data


def deliver(client, notifications):
    """Post the sandbox's notifications to the portal as the acquirer would."""
    answers = []
    for url, body, headers in notifications:
        answers.append(client.post(urlsplit(url).path, data=body, headers=headers))
    notifications.clear()
    return answers


def sandbox_path(response) -> str:
    location = response.headers["Location"]
    assert location.startswith(sandbox.PAGES_PATH + "/pay/sbx_"), location
    return location


def pay_with_card(client, response, card):
    path = sandbox_path(response)
    token = csrf_from(client.get(path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, "card_number": card}, headers=EN)


def the_payment(session) -> Payment:
    """The newest payment of the signed-in "payer" (PostgreSQL keeps what other tests
    committed on purpose, e.g. the concurrency test's)."""
    session.expire_all()
    mine = (
        sa.select(Account.id)
        .join(Person, Account.person_id == Person.id)
        .where(Person.login == "payer")
    )
    return session.scalars(
        sa.select(Payment).where(Payment.account_id.in_(mine)).order_by(Payment.id.desc())
    ).first()


def my_payments(session) -> int:
    payment = the_payment(session)
    if payment is None:
        return 0
    return session.scalar(
        sa.select(sa.func.count())
        .select_from(Payment)
        .where(Payment.account_id == payment.account_id)
    )


def credits(session, payment) -> int:
    return session.scalar(
        sa.select(sa.func.count())
        .select_from(LedgerEntry)
        .where(LedgerEntry.idempotency_key == f"payment:{payment.id}")
    )


def events(session, name) -> list[AuditEvent]:
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.event == name)))


# --- the Pay page ----------------------------------------------------------------------


def test_pay_page_offers_recommended_monthly_and_round_sums(client, subscriber):
    html = client.get("/pay/", headers=EN).get_data(as_text=True)
    # 2..31 Dec at 10 ₽ a day and January: 300 + 310 - 100 = 510 ₽.
    assert 'href="/pay/?amount=510"' in html and "Until the end of next month" in html
    assert 'href="/pay/?amount=310"' in html and "A month of services" in html
    for value in ("500", "1000", "2000"):
        assert f'href="/pay/?amount={value}"' in html
    assert 'value="510"' in html  # the recommended sum is filled in
    assert "TEST MODE" in html


def test_pay_page_says_the_balance_and_date_after_paying(client, subscriber):
    html = client.get("/pay/?amount=310", headers=EN).get_data(as_text=True)
    # 410 ₽ at 10 ₽ a day from 2 December: 30 days of December and 11 of January.
    assert "After paying 310.00\xa0RUB the balance will be 410.00\xa0RUB." in html
    assert "Enough for 41 days, until 12 January 2027." in html


def test_preview_fragment_follows_the_typed_sum(client, subscriber):
    r = client.get("/pay/preview?amount=1000", headers=EN | {"HX-Request": "true"})
    fragment = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in fragment and 'id="preview"' in fragment
    assert "1,100.00\xa0RUB" in fragment
    bad = client.get("/pay/preview?amount=1e9", headers=EN | {"HX-Request": "true"})
    assert "Enter the amount in roubles as a number" in bad.get_data(as_text=True)
    assert client.get("/pay/preview?amount=5").status_code == 303  # without htmx: the page


def test_preview_says_the_sum_that_repays_a_running_promised_payment(client, session, subscriber):
    """390 on the balance with a promise of 300 running: paying 300 repays it (its credit
    goes back at once), so 390 is left, not 690."""
    terms = promised.Terms(
        amount=300_00, days=5, fee=10_00, first_day=1, last_day=31, per_month=1, when_days_left=31
    )
    promised.take(
        session, subscriber.account.id, date(2026, 12, 1), terms, block_threshold=0, actor="test"
    )
    session.commit()
    r = client.get("/pay/preview?amount=300", headers=EN | {"HX-Request": "true"})
    fragment = r.get_data(as_text=True)
    assert "After paying 300.00\xa0RUB the balance will be 390.00\xa0RUB." in fragment
    assert "300.00\xa0RUB of it repays the promised payment." in fragment
    less = client.get("/pay/preview?amount=200", headers=EN | {"HX-Request": "true"})
    assert "the balance will be 590.00\xa0RUB." in less.get_data(as_text=True)
    assert "repays" not in less.get_data(as_text=True)


def test_home_pay_button_carries_the_recommended_sum(client, subscriber):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/pay/?amount=510"' in html


@pytest.mark.parametrize(
    "amount, message",
    [
        ("", "Enter the amount."),
        ("-5", "The amount must be more than zero."),
        ("0", "The amount must be more than zero."),
        ("1e9", "Enter the amount in roubles as a number"),
        ("NaN", "Enter the amount in roubles as a number"),
        ("12,345", "Kopecks take at most two digits after the comma."),
        ("100.001", "Kopecks take at most two digits after the comma."),
        ("5", "The smallest payment is 10\xa0RUB."),
        ("100000.01", "The largest payment is 100,000\xa0RUB."),
        ("1000000000", "The largest payment is 100,000\xa0RUB."),
        ("100 USD", "Payments are accepted in roubles only."),
        ("x" * 40, "Enter the amount in roubles as a number"),
    ],
)
def test_bad_amounts_get_a_clear_message_and_nothing_is_made(
    client, session, subscriber, amount, message
):
    response, _data = start(client, amount)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert the_payment(session) is None


def test_other_currency_and_method_and_tampered_key_are_refused(client, session, subscriber):
    response, _ = start(client, "500", currency="USD")
    assert response.status_code == 400
    assert "roubles only" in response.get_data(as_text=True)
    response, _ = start(client, "500", method="bitcoin")
    assert response.status_code == 400 and "Choose how to pay." in response.get_data(as_text=True)
    response, _ = start(client, "500", creation_key="not-a-key")
    assert response.status_code == 400
    assert the_payment(session) is None


def test_bad_amount_in_the_link_shows_a_message_not_an_error(client, subscriber):
    for value in ["NaN", "-1", "1e9", "12,345"]:
        response = client.get(f"/pay/?amount={value}", headers=EN)
        assert response.status_code == 200
        assert 'class="field-error"' in response.get_data(as_text=True)


def test_pay_without_csrf_is_refused(client, session, subscriber):
    data = pay_form(client) | {"amount": "500"}
    data.pop("csrf_token")
    assert client.post("/pay/", data=data).status_code == 400
    assert the_payment(session) is None


# --- paying through the sandbox --------------------------------------------------------


def test_card_payment_succeeds_credits_once_and_shows_the_new_balance(
    client, session, subscriber, notifications
):
    response, _ = start(client, "1500,50")
    assert response.status_code == 303
    payment = the_payment(session)
    assert payment.status is PaymentStatus.PENDING and payment.amount == 150050
    assert payment.provider == "sandbox" and payment.provider_payment_id.startswith("sbx_")

    page = client.get(sandbox_path(response), headers=EN).get_data(as_text=True)
    assert "TEST MODE" in page and "1,500.50" in page
    back = pay_with_card(client, response, "4111 1111 1111 1111")
    assert back.status_code == 303
    assert back.headers["Location"].endswith(f"/pay/{payment.id}")
    (answer,) = deliver(client, notifications)
    assert answer.status_code == 200

    payment = the_payment(session)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert credits(session, payment) == 1
    account = session.get(type(subscriber.account), subscriber.account.id)
    session.refresh(account)
    assert account.balance == 100_00 + 150050
    assert account.balance == ledger.balance_from_entries(session, account.id)
    status = client.get(f"/pay/{payment.id}", headers=EN).get_data(as_text=True)
    assert "Paid" in status and "1,600.50\xa0RUB" in status
    assert f"/pay/{payment.id}/receipt" in status
    assert "hx-trigger" not in status.split('id="payment-status"')[1].split(">")[0]
    names = {e.event for e in session.scalars(sa.select(AuditEvent))}
    assert {"payment.created", "payment.registered", "payment.notified"} <= names
    assert {"payment.credited"} <= names


def test_return_page_alone_finishes_the_payment(client, session, subscriber, notifications):
    """The notification is lost: the page the payer comes back to settles it."""
    response, _ = start(client, "500")
    pay_with_card(client, response, sandbox.CARD_SUCCEEDS)
    notifications.clear()  # lost
    payment = the_payment(session)
    html = client.get(f"/pay/{payment.id}", headers=EN).get_data(as_text=True)
    assert "Paid" in html
    assert credits(session, the_payment(session)) == 1
    # ...and a late notification changes nothing.
    client.get(f"/pay/{payment.id}")
    assert credits(session, the_payment(session)) == 1


def test_status_polls_until_final_and_then_announces_the_balance(
    client, session, subscriber, notifications
):
    response, _ = start(client, "500")
    payment = the_payment(session)
    htmx = EN | {"HX-Request": "true"}
    pending = client.get(f"/pay/{payment.id}", headers=htmx)
    fragment = pending.get_data(as_text=True)
    assert "<html" not in fragment and 'hx-trigger="load delay:2s"' in fragment
    assert "Waiting for the payment" in fragment
    pay_with_card(client, response, sandbox.CARD_SUCCEEDS)
    done = client.get(f"/pay/{payment.id}", headers=htmx)
    assert "hx-trigger" not in done.get_data(as_text=True)
    assert "balanceChanged" in done.headers["HX-Trigger"]
    assert "Payment received" in json.loads(done.headers["HX-Trigger"])["toast"]


def test_declined_card_credits_nothing_and_offers_to_try_again(
    client, session, subscriber, notifications
):
    response, _ = start(client, "500")
    pay_with_card(client, response, sandbox.CARD_DECLINED)
    deliver(client, notifications)
    payment = the_payment(session)
    assert payment.status is PaymentStatus.CANCELED and payment.cancel_reason == "card_declined"
    assert credits(session, payment) == 0
    html = client.get(f"/pay/{payment.id}", headers=EN).get_data(as_text=True)
    assert "The bank declined the card." in html and 'href="/pay/?amount=500"' in html


def test_payer_cancels_on_the_acquirer_page(client, session, subscriber, notifications):
    response, _ = start(client, "500")
    path = sandbox_path(response)
    token = csrf_from(client.get(path).get_data(as_text=True))
    back = client.post(path + "/cancel", data={"csrf_token": token})
    assert back.status_code == 303
    deliver(client, notifications)
    payment = the_payment(session)
    assert payment.status is PaymentStatus.CANCELED
    assert payment.cancel_reason == "canceled_by_payer"
    assert "The payment was canceled." in client.get(f"/pay/{payment.id}", headers=EN).get_data(
        as_text=True
    )


def test_waiting_for_confirmation_then_confirmed(client, session, subscriber, notifications):
    response, _ = start(client, "500")
    answer = pay_with_card(client, response, sandbox.CARD_CONFIRM)
    assert "/confirm/" in answer.headers["Location"]
    deliver(client, notifications)
    payment = the_payment(session)
    assert payment.status is PaymentStatus.WAITING and credits(session, payment) == 0
    html = client.get(f"/pay/{payment.id}", headers=EN).get_data(as_text=True)
    assert "Waiting for confirmation" in html and "hx-trigger" in html
    confirm = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "TEST MODE" in confirm
    client.post(
        answer.headers["Location"], data={"csrf_token": csrf_from(confirm), "decision": "confirm"}
    )
    deliver(client, notifications)
    assert the_payment(session).status is PaymentStatus.SUCCEEDED


def test_waiting_for_confirmation_then_rejected(client, session, subscriber, notifications):
    response, _ = start(client, "500")
    answer = pay_with_card(client, response, sandbox.CARD_CONFIRM)
    confirm = client.get(answer.headers["Location"]).get_data(as_text=True)
    client.post(
        answer.headers["Location"], data={"csrf_token": csrf_from(confirm), "decision": "reject"}
    )
    deliver(client, notifications)
    payment = the_payment(session)
    assert payment.status is PaymentStatus.CANCELED and credits(session, payment) == 0


def test_expired_payment_is_canceled(client, session, subscriber, notifications, frozen_clock):
    response, _ = start(client, "500")
    frozen_clock.advance(minutes=16)
    payment = the_payment(session)
    html = client.get(f"/pay/{payment.id}", headers=EN).get_data(as_text=True)
    assert "The time to pay ran out." in html
    assert the_payment(session).cancel_reason == "expired"
    late = pay_with_card(client, response, sandbox.CARD_SUCCEEDS)
    assert late.status_code == 409  # the acquirer refuses to take money for it now
    assert credits(session, the_payment(session)) == 0


def test_sandbox_accepts_only_test_cards(client, session, subscriber, notifications):
    response, _ = start(client, "500")
    answer = pay_with_card(client, response, "5555 5555 5555 4444")
    assert answer.status_code == 400
    assert "test cards" in answer.get_data(as_text=True)
    record = session.get(SandboxPayment, the_payment(session).provider_payment_id)
    assert record.status == "pending" and record.card_last4 is None
    assert notifications == []


def test_sbp_payment_through_the_sandbox(client, session, subscriber, notifications):
    response, _ = start(client, "750", method="sbp")
    path = sandbox_path(response)
    page = client.get(path, headers=EN).get_data(as_text=True)
    assert "Confirm in the bank app (test)" in page
    client.post(path, data={"csrf_token": csrf_from(page)})
    deliver(client, notifications)
    payment = the_payment(session)
    assert payment.method.value == "sbp" and payment.status is PaymentStatus.SUCCEEDED


def test_double_tap_and_resent_form_make_one_payment(client, session, subscriber, notifications):
    first, data = start(client, "500")
    second = client.post("/pay/", data=data)
    assert second.headers["Location"] == first.headers["Location"]
    assert my_payments(session) == 1
    pay_with_card(client, first, sandbox.CARD_SUCCEEDS)
    deliver(client, notifications)
    payment = the_payment(session)
    third = client.post("/pay/", data=data)  # the old form, sent again after paying
    assert third.headers["Location"].endswith(f"/pay/{payment.id}")
    assert my_payments(session) == 1
    assert credits(session, payment) == 1


def test_reused_form_key_with_another_sum_is_a_conflict(client, session, subscriber):
    _first, data = start(client, "500")
    response = client.post("/pay/", data=data | {"amount": "900"}, headers=EN)
    assert response.status_code == 409
    assert my_payments(session) == 1


def test_credited_payment_lifts_the_block_for_debt(client, session, subscriber, notifications):
    account = session.get(type(subscriber.account), subscriber.account.id)
    ledger.post(session, account.id, EntryKind.CORRECTION, -300_00, key="debt")
    account.status = AccountStatus.BLOCKED
    session.commit()
    html = client.get("/pay/", headers=EN).get_data(as_text=True)
    assert "blocked for debt" in html
    response, _ = start(client, "500")
    pay_with_card(client, response, sandbox.CARD_SUCCEEDS)
    deliver(client, notifications)
    session.refresh(account)
    assert account.balance == 300_00 and account.status is AccountStatus.ACTIVE
    assert events(session, "account.unblocked")


def test_payment_too_small_for_the_debt_keeps_the_block(client, session, subscriber, notifications):
    account = session.get(type(subscriber.account), subscriber.account.id)
    ledger.post(session, account.id, EntryKind.CORRECTION, -1000_00, key="big-debt")
    account.status = AccountStatus.BLOCKED
    session.commit()
    response, _ = start(client, "500")
    pay_with_card(client, response, sandbox.CARD_SUCCEEDS)
    deliver(client, notifications)
    session.refresh(account)
    assert account.balance == -400_00 and account.status is AccountStatus.BLOCKED


# --- absolute URLs: from PORTAL_PUBLIC_URL, never from the request's Host --------------

PUBLIC = "https://portal.test"  # tests.conftest.make_test_app's PORTAL_PUBLIC_URL


def cookies_for(client, host: str) -> None:
    """Send the signed-in session's cookies also to requests that name `host`."""
    for name in ("portal_session", "portal_remember"):
        cookie = client.get_cookie(name)
        if cookie is not None:
            client.set_cookie(name, cookie.value, domain=host)


@pytest.mark.parametrize(
    "headers, trusted_proxies",
    [({"Host": "evil.example"}, 0), ({"X-Forwarded-Host": "evil.example"}, 1)],
    ids=["host", "forwarded-host"],
)
def test_payer_and_notification_go_to_the_public_origin_whatever_host_the_request_names(
    app, client, session, subscriber, notifications, monkeypatch, headers, trusted_proxies
):
    if trusted_proxies:  # as create_app sets up PORTAL_TRUSTED_PROXIES=1
        proxied = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
        monkeypatch.setattr(app, "wsgi_app", proxied)
    data = pay_form(client) | {"amount": "500"}
    cookies_for(client, "evil.example")
    response = client.post("/pay/", data=data, headers=EN | headers)
    assert response.status_code == 303
    assert "evil.example" not in response.headers["Location"]
    payment = the_payment(session)
    record = session.get(SandboxPayment, payment.provider_payment_id)
    assert record.return_url == f"{PUBLIC}/pay/{payment.id}"
    assert record.notify_url == f"{PUBLIC}/pay/notify/sandbox"
    back = pay_with_card(client, response, sandbox.CARD_SUCCEEDS)
    assert back.headers["Location"] == f"{PUBLIC}/pay/{payment.id}"
    assert [url for url, _body, _headers in notifications] == [f"{PUBLIC}/pay/notify/sandbox"]


# --- webhooks --------------------------------------------------------------------------


def signed(body: bytes, app) -> dict:
    key = sandbox.webhook_key(app.config)
    return {sandbox.SIGNATURE_HEADER: sandbox.sign(body, key)}


def notification_for(record, *, amount=None, currency="RUB", status="succeeded") -> bytes:
    value = amount if amount is not None else f"{record.amount // 100}.{record.amount % 100:02d}"
    return json.dumps(
        {
            "type": "notification",
            "event": f"payment.{status}",
            "object": {
                "id": record.id,
                "status": status,
                "amount": {"value": value, "currency": currency},
            },
        }
    ).encode()


def test_unsigned_or_forged_notification_is_refused_and_recorded(
    app, client, session, subscriber, notifications
):
    refused_before = len(events(session, "payment.notification_refused"))
    response, _ = start(client, "500")
    pay_with_card(client, response, sandbox.CARD_SUCCEEDS)
    notifications.clear()
    record = session.get(SandboxPayment, the_payment(session).provider_payment_id)
    body = notification_for(record)
    assert client.post("/pay/notify/sandbox", data=body).status_code == 403
    forged = {sandbox.SIGNATURE_HEADER: sandbox.sign(body, b"guessed key")}
    assert client.post("/pay/notify/sandbox", data=body, headers=forged).status_code == 403
    tampered = body.replace(b"500.00", b"5000.00")
    headers = signed(body, app)
    assert client.post("/pay/notify/sandbox", data=tampered, headers=headers).status_code == 403
    assert the_payment(session).status is PaymentStatus.PENDING
    assert credits(session, the_payment(session)) == 0
    # Recorded in bounded form: one counter row and one audit event per address and hour.
    (row,) = refusals(session, "127.0.0.1")
    assert row.refused == 3 and row.last_reason.startswith("ForgedNotification")
    assert len(events(session, "payment.notification_refused")) == refused_before + 1


def refusals(session, address: str) -> list[NotificationRefusal]:
    session.expire_all()
    return list(
        session.scalars(
            sa.select(NotificationRefusal)
            .where(NotificationRefusal.address == address)
            .order_by(NotificationRefusal.hour)
        )
    )


def test_a_flood_of_unsigned_notifications_is_one_row_and_then_429(
    app, client, session, subscriber, notifications, monkeypatch
):
    """Anyone can post to the notification URL: a flood from one address writes one
    counter row and one audit event, then gets 429; the acquirer's own signed
    notification still settles the payment."""
    monkeypatch.setitem(app.config, "PORTAL_PAYMENT_NOTIFY_LIMIT", "5 per minute")
    response, _ = start(client, "500")
    pay_with_card(client, response, sandbox.CARD_SUCCEEDS)
    record = session.get(SandboxPayment, the_payment(session).provider_payment_id)
    body = notification_for(record)
    audited_before = len(events(session, "payment.notification_refused"))
    flood = {"REMOTE_ADDR": "203.0.113.7"}
    codes = [
        client.post("/pay/notify/sandbox", data=body, environ_base=flood).status_code
        for _ in range(8)
    ]
    assert codes == [403] * 5 + [429] * 3
    (row,) = refusals(session, "203.0.113.7")
    assert row.refused == 5 and row.provider == "sandbox"
    assert len(events(session, "payment.notification_refused")) == audited_before + 1
    (answer,) = deliver(client, notifications)  # signed, from the acquirer's address
    assert answer.status_code == 200
    assert the_payment(session).status is PaymentStatus.SUCCEEDED


def test_refused_notifications_are_counted_per_address_and_hour(
    client, session, subscriber, frozen_clock
):
    events_before = len(events(session, "payment.notification_refused"))
    body = b'{"event": "payment.succeeded", "object": {"id": "sbx_x"}}'

    def post(address: str) -> int:
        environ = {"REMOTE_ADDR": address}
        return client.post("/pay/notify/sandbox", data=body, environ_base=environ).status_code

    assert [post("203.0.113.7"), post("203.0.113.8"), post("203.0.113.7")] == [403] * 3
    frozen_clock.advance(hours=1)
    assert post("203.0.113.7") == 403
    first, second = refusals(session, "203.0.113.7")
    assert (first.refused, second.refused) == (2, 1)
    assert second.hour - first.hour == timedelta(hours=1)
    assert [r.refused for r in refusals(session, "203.0.113.8")] == [1]
    assert len(events(session, "payment.notification_refused")) == events_before + 3


def test_notification_about_an_unknown_payment_is_404(app, client, session, subscriber):
    body = json.dumps(
        {
            "event": "payment.succeeded",
            "object": {"id": "sbx_nope", "amount": {"value": "1.00", "currency": "RUB"}},
        }
    ).encode()
    response = client.post("/pay/notify/sandbox", data=body, headers=signed(body, app))
    assert response.status_code == 404
    assert events(session, "payment.notification_unknown")


def test_unreadable_signed_notification_is_400(app, client, subscriber):
    body = b'{"event": "payment.succeeded"}'
    assert (
        client.post("/pay/notify/sandbox", data=body, headers=signed(body, app)).status_code == 400
    )


def test_notifications_for_an_unknown_acquirer_are_404(client):
    assert client.post("/pay/notify/paypal", data=b"{}").status_code == 404
    assert client.post("/pay/notify/base", data=b"{}").status_code == 404
    assert client.post("/pay/notify/..%2Fetc", data=b"{}").status_code == 404


@pytest.mark.parametrize("amount, currency", [("5000.00", "RUB"), ("500.00", "USD")])
def test_notification_claiming_another_sum_is_refused_and_recorded(
    app, client, session, subscriber, notifications, amount, currency
):
    response, _ = start(client, "500")
    pay_with_card(client, response, sandbox.CARD_SUCCEEDS)
    notifications.clear()
    record = session.get(SandboxPayment, the_payment(session).provider_payment_id)
    body = notification_for(record, amount=amount, currency=currency)
    answer = client.post("/pay/notify/sandbox", data=body, headers=signed(body, app))
    assert answer.status_code == 422
    assert events(session, "payment.notification_mismatch")
    assert credits(session, the_payment(session)) == 0


def test_acquirer_reporting_another_sum_puts_the_payment_on_review(
    client, session, subscriber, notifications
):
    response, _ = start(client, "500")
    pay_with_card(client, response, sandbox.CARD_SUCCEEDS)
    record = session.get(SandboxPayment, the_payment(session).provider_payment_id)
    record.amount = 5000_00  # the acquirer's own record says another sum
    session.commit()
    notifications.clear()
    payment = the_payment(session)
    html = client.get(f"/pay/{payment.id}", headers=EN).get_data(as_text=True)
    assert "We are checking this payment" in html
    payment = the_payment(session)
    assert payment.status is PaymentStatus.REVIEW and credits(session, payment) == 0
    assert events(session, "payment.amount_mismatch")


def test_repeated_notification_answers_200_and_credits_once(
    client, session, subscriber, notifications
):
    response, _ = start(client, "500")
    pay_with_card(client, response, sandbox.CARD_SUCCEEDS)
    copies = notifications * 5
    answers = deliver(client, copies)
    assert [a.status_code for a in answers] == [200] * 5
    assert credits(session, the_payment(session)) == 1


# --- privacy, receipts, QR -------------------------------------------------------------


def test_another_subscribers_payment_is_404(client, session, subscriber, auth, notifications):
    response, _ = start(client, "500")
    pay_with_card(client, response, sandbox.CARD_SUCCEEDS)
    payment = the_payment(session)
    auth.logout()
    create_subscriber(session, login="stranger")
    session.commit()
    auth.login("stranger", PASSWORD)
    assert client.get(f"/pay/{payment.id}").status_code == 404
    assert client.get(f"/pay/{payment.id}/receipt").status_code == 404
    assert client.get("/pay/999999").status_code == 404


def test_receipt_is_printable_and_says_it_is_not_the_fiscal_one(
    client, session, subscriber, notifications
):
    response, _ = start(client, "500")
    payment = the_payment(session)
    assert client.get(f"/pay/{payment.id}/receipt").status_code == 404  # not paid yet
    pay_with_card(client, response, sandbox.CARD_SUCCEEDS)
    deliver(client, notifications)
    html = client.get(f"/pay/{payment.id}/receipt", headers=EN).get_data(as_text=True)
    assert "not a fiscal receipt" in html and "TEST MODE" in html
    assert subscriber.account.contract_number in html and "500.00\xa0RUB" in html
    assert "Fiscal document number (FD)" in html  # attributes the acquirer returned
    assert "data-print" in html


def test_qr_page_shows_the_code_and_says_the_money_comes_by_bank_statement(client, subscriber):
    html = client.get("/pay/qr?amount=480", headers=EN).get_data(as_text=True)
    assert "bank statement" in html and 'src="/pay/qr.svg?amount=480"' in html
    svg = client.get("/pay/qr.svg?amount=480")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert b"<svg" in svg.data
    assert client.get("/pay/qr.svg?amount=1e9").status_code == 400
    assert client.get("/pay/qr?amount=NaN").status_code == 400


def test_payment_pages_carry_no_inline_script_or_style(client, session, subscriber, notifications):
    response, _ = start(client, "500")
    payment = the_payment(session)
    paths = ["/pay/", "/pay/qr?amount=500", f"/pay/{payment.id}", sandbox_path(response)]
    for path in paths:
        html = client.get(path).get_data(as_text=True)
        assert "<script>" not in html and " style=" not in html and "<style" not in html
        assert " onclick=" not in html and "hx-on" not in html


def test_pay_page_needs_sign_in(client):
    assert client.get("/pay/").status_code == 302
    assert client.get("/pay/1").status_code == 302


def test_status_page_looks_are_limited_per_address(app, client, session, subscriber, notifications):
    """Each look may ask the acquirer, so a flood of looks gets a 429."""
    app.config["PORTAL_PAYMENT_STATUS_LIMIT"] = "3 per minute"
    try:
        response = client.post("/pay/", data=pay_form(client) | {"amount": "100"}, headers=EN)
        assert response.status_code == 303
        payment_id = the_payment(session).id
        codes = [client.get(f"/pay/{payment_id}").status_code for _ in range(4)]
    finally:
        app.config["PORTAL_PAYMENT_STATUS_LIMIT"] = "60 per minute"
    assert codes == [200, 200, 200, 429]
