"""The YooKassa provider: the real SDK against a local server speaking its API."""

import time

import pytest

from portal.domain.payments.acquirers import yookassa
from portal.domain.payments.acquirers.base import NewPayment, RemoteStatus
from portal.domain.payments.errors import (
    BadNotification,
    ForgedNotification,
    ProviderUnavailable,
    RemoteNotFound,
)
from tests.fakes.yookassa_api import SECRET_KEY, SHOP_ID, FakeYooKassa, hanging_server, refused_url

YOOKASSA_IP = "185.71.76.10"


def config(api_url, **extra):
    return {
        "PORTAL_YOOKASSA_SHOP_ID": SHOP_ID,
        "PORTAL_YOOKASSA_SECRET_KEY": SECRET_KEY,
        "PORTAL_YOOKASSA_API_URL": api_url,
        "PORTAL_YOOKASSA_CONNECT_TIMEOUT": 0.5,
        "PORTAL_YOOKASSA_READ_TIMEOUT": 0.5,
        "PORTAL_YOOKASSA_VAT_CODE": 11,
        **extra,
    }


@pytest.fixture(scope="module")
def fake():
    server = FakeYooKassa().start()
    yield server
    server.stop()


@pytest.fixture
def provider(fake):
    return yookassa.Provider.from_config(config(fake.api_url))


def new_payment(payment_id=42, amount=150050, method="card"):
    return NewPayment(
        payment_id=payment_id,
        idempotence_key=f"{payment_id}-1795000000000",
        amount=amount,
        currency="RUB",
        method=method,
        description="Оплата услуг связи, договор 100001",
        return_url="https://portal.example/pay/42",
        notify_url="https://portal.example/pay/notify/yookassa",
        contract="100001",
        customer_phone="+79780000001",
    )


def test_create_sends_idempotence_key_redirect_receipt_and_method(fake, provider):
    remote = provider.create(new_payment())
    assert remote.status is RemoteStatus.PENDING
    assert remote.amount == 150050 and remote.currency == "RUB"
    assert remote.confirmation_url.startswith("https://yoomoney.ru/checkout/")
    assert remote.our_payment_id == 42
    sent = fake.requests[-1]
    assert sent["key"] == "42-1795000000000"  # our payment row's id and creation time
    body = sent["body"]
    assert body["amount"] == {"value": "1500.50", "currency": "RUB"}
    assert body["capture"] is True
    assert body["confirmation"] == {
        "type": "redirect",
        "return_url": "https://portal.example/pay/42",
    }
    assert body["payment_method_data"] == {"type": "bank_card"}
    receipt = body["receipt"]
    assert receipt["customer"] == {"phone": "79780000001"}
    (item,) = receipt["items"]
    assert item["vat_code"] == 11 and item["amount"] == body["amount"]
    assert item["payment_mode"] == "full_prepayment" and item["payment_subject"] == "service"
    assert "100001" in item["description"]


def test_sbp_is_offered_through_payment_method_data(fake, provider):
    provider.create(new_payment(payment_id=7, method="sbp"))
    assert fake.requests[-1]["body"]["payment_method_data"] == {"type": "sbp"}


def test_creating_twice_with_the_same_row_makes_one_payment(fake, provider):
    before = len(fake.payments)
    first = provider.create(new_payment(payment_id=9))
    second = provider.create(new_payment(payment_id=9))
    assert first.provider_payment_id == second.provider_payment_id
    assert len(fake.payments) == before + 1


def test_fetch_reads_status_and_fiscal_receipt(fake, provider):
    remote = provider.create(new_payment())
    fake.set_status(remote.provider_payment_id, "succeeded")
    paid = provider.fetch(remote.provider_payment_id)
    assert paid.status is RemoteStatus.SUCCEEDED and paid.amount == 150050
    assert paid.fiscal_receipt["registration"] == "succeeded"
    assert paid.fiscal_receipt["fiscal_document_number"] == "3986"
    assert paid.fiscal_receipt["fiscal_attribute"] == "2617603921"


def test_fetch_reads_cancellation_reason(fake, provider):
    remote = provider.create(new_payment())
    fake.set_status(remote.provider_payment_id, "canceled", reason="insufficient_funds")
    canceled = provider.fetch(remote.provider_payment_id)
    assert canceled.status is RemoteStatus.CANCELED
    assert canceled.cancel_reason == "insufficient_funds"


def test_unknown_payment_is_remote_not_found(provider):
    with pytest.raises(RemoteNotFound):
        provider.fetch("2d0c6a4e-000f-5000-9000-1b68e7b15f3f")


def test_wrong_credentials_are_unavailable_not_a_crash(fake):
    provider = yookassa.Provider.from_config(
        config(fake.api_url, PORTAL_YOOKASSA_SECRET_KEY="wrong")
    )
    with pytest.raises(ProviderUnavailable):
        provider.create(new_payment())


def test_missing_credentials_are_unavailable():
    provider = yookassa.Provider.from_config(
        config("http://127.0.0.1:9/v3", PORTAL_YOOKASSA_SHOP_ID="")
    )
    with pytest.raises(ProviderUnavailable):
        provider.create(new_payment())


def test_a_hanging_server_times_out():
    with hanging_server() as api_url:
        provider = yookassa.Provider.from_config(config(api_url))
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable):
            provider.create(new_payment())
        with pytest.raises(ProviderUnavailable):
            provider.fetch("2d0c6a4e-000f-5000-9000-1b68e7b15f3f")
        assert time.monotonic() - started < 10


def test_a_refused_connection_is_unavailable_not_attribute_error():
    provider = yookassa.Provider.from_config(config(refused_url()))
    with pytest.raises(ProviderUnavailable):
        provider.create(new_payment())
    with pytest.raises(ProviderUnavailable):
        provider.fetch("2d0c6a4e-000f-5000-9000-1b68e7b15f3f")


@pytest.mark.parametrize(
    "address, trusted",
    [
        ("185.71.76.10", True),
        ("185.71.77.31", True),
        ("77.75.156.11", True),
        ("77.75.154.200", True),
        ("2a02:5180:0:1509::1", True),
        ("2a02:5180:1234::1", True),  # the documented /32, wider than the SDK's list
        ("::ffff:185.71.76.10", True),
        ("185.71.76.32", False),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("not an address", False),
        ("", False),
        (None, False),
    ],
)
def test_notifications_only_from_published_addresses(provider, address, trusted):
    assert provider.trusts(address) is trusted


def test_notification_is_parsed_with_the_sdk(fake, provider):
    remote = provider.create(new_payment())
    fake.set_status(remote.provider_payment_id, "succeeded")
    note = provider.parse_notification(
        fake.notification(remote.provider_payment_id), {}, YOOKASSA_IP
    )
    assert note.provider_payment_id == remote.provider_payment_id
    assert note.event == "payment.succeeded"
    assert (note.claimed_amount, note.claimed_currency) == (150050, "RUB")


def test_notification_from_elsewhere_is_forged(fake, provider):
    remote = provider.create(new_payment())
    with pytest.raises(ForgedNotification):
        provider.parse_notification(
            fake.notification(remote.provider_payment_id), {}, "203.0.113.5"
        )


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b'{"type": "notification"}', b'{"event": "x", "object": 1}']
)
def test_unreadable_notification_is_bad(provider, body):
    with pytest.raises(BadNotification):
        provider.parse_notification(body, {}, YOOKASSA_IP)
