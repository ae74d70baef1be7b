"""Settling payments when things go wrong: concurrent copies of a notification, a crash
between the notification and the commit, the reconciler, YooKassa's notifications and
a production start with the sandbox on."""

import threading
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain import ledger
from portal.domain.payments import start
from portal.domain.payments.acquirers import sandbox
from portal.extensions import db
from portal.models import (
    Account,
    AuditEvent,
    LedgerEntry,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from tests.conftest import make_test_app
from tests.factories import create_subscriber
from tests.fakes.yookassa_api import SECRET_KEY, SHOP_ID, FakeYooKassa, refused_url

YOOKASSA_IP = "185.71.76.10"


def unregistered_payment(session, creation_key: str):
    """A 100 ₽ card payment of a new subscriber, not yet registered with an acquirer."""
    account = create_subscriber(session).account
    payment, _ = start.create_payment(
        session,
        account,
        amount=100_00,
        method=PaymentMethod.CARD,
        creation_key=creation_key,
        provider="sandbox",
        actor="test",
    )
    return payment


def sandbox_paid_payment(app, session, amount=500_00):
    """A payment registered with the sandbox and paid there; its notification unsent."""
    account = create_subscriber(session).account
    acquirer = sandbox.Provider.from_config(app.config, session)
    payment, _ = start.create_payment(
        session,
        account,
        amount=amount,
        method=PaymentMethod.CARD,
        creation_key=f"{account.id:032x}",
        provider="sandbox",
        actor="test",
    )
    start.register(
        session,
        payment,
        acquirer,
        return_url="http://localhost/pay/1",
        notify_url="http://localhost/pay/notify/sandbox",
        actor="test",
        block_threshold=0,
    )
    record = session.get(sandbox.SandboxPayment, payment.provider_payment_id)
    acquirer.pay(record, sandbox.CARD_SUCCEEDS)
    body, headers = acquirer.notification(record)
    return payment, body, headers


def entries_of(session, payment) -> int:
    return session.scalar(
        sa.select(sa.func.count())
        .select_from(LedgerEntry)
        .where(LedgerEntry.idempotency_key == f"payment:{payment.id}")
    )


def post_at_once(app, copies: int, path: str, **request) -> list[int]:
    """Post the same request from `copies` threads released together; their statuses."""
    barrier = threading.Barrier(copies)
    codes, errors = [], []

    def post() -> None:
        try:
            client = app.test_client()
            barrier.wait()
            codes.append(client.post(path, **request).status_code)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return sorted(codes)


@pytest.mark.parametrize("migrated_app", ["postgres"], indirect=True)
def test_twenty_concurrent_copies_of_a_notification_credit_once(migrated_app):
    """20 threads post the same notification at once (PostgreSQL only: real concurrency;
    SQLite has one writer at a time)."""
    with migrated_app.app_context():
        engine = db.engine
        with Session(engine) as setup:
            payment, body, headers = sandbox_paid_payment(migrated_app, setup)
            setup.commit()
            payment_id, account_id = payment.id, payment.account_id
    codes = post_at_once(migrated_app, 20, "/pay/notify/sandbox", data=body, headers=headers)
    assert codes == [200] * 20
    with migrated_app.app_context(), Session(db.engine) as check:
        payment = check.get(Payment, payment_id)
        assert entries_of(check, payment) == 1
        assert payment.status is PaymentStatus.SUCCEEDED
        balance = check.get(Account, account_id).balance
        assert balance == 500_00 == ledger.balance_from_entries(check, account_id)


@pytest.mark.parametrize("migrated_app", ["postgres"], indirect=True)
def test_concurrent_refused_notifications_make_one_counter_row(migrated_app):
    """The refusal counter is one upsert on a unique key: 10 forged posts at once from one
    address make one row counting 10 and one audit event (PostgreSQL: real concurrency)."""
    from portal.models.payment import NotificationRefusal

    address = "198.51.100.20"
    environ = {"REMOTE_ADDR": address}
    codes = post_at_once(migrated_app, 10, "/pay/notify/sandbox", data=b"{}", environ_base=environ)
    assert codes == [403] * 10
    with migrated_app.app_context(), Session(db.engine) as check:
        rows = check.scalars(
            sa.select(NotificationRefusal).where(NotificationRefusal.address == address)
        ).all()
        audited = check.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.event == "payment.notification_refused", AuditEvent.address == address
            )
        ).all()
    # One row (two if the hour turned meanwhile), counting every post; one event per row.
    assert len(rows) in (1, 2) and sum(r.refused for r in rows) == 10
    assert len(audited) == len(rows)


def test_crash_before_commit_then_reconcile_credits_once(app, client, session, runner, monkeypatch):
    payment, body, headers = sandbox_paid_payment(app, session)
    session.commit()

    def crash(*args, **kwargs):
        raise RuntimeError("power cut between the notification and the commit")

    with monkeypatch.context() as m:
        m.setattr(db.session, "commit", crash)
        app.testing, propagate = False, app.config.get("PROPAGATE_EXCEPTIONS")
        app.config["PROPAGATE_EXCEPTIONS"] = False
        try:
            response = client.post("/pay/notify/sandbox", data=body, headers=headers)
        finally:
            app.testing = True
            app.config["PROPAGATE_EXCEPTIONS"] = propagate
    assert response.status_code == 500
    session.expire_all()
    assert session.get(Payment, payment.id).status is PaymentStatus.PENDING
    assert entries_of(session, payment) == 0

    result = runner.invoke(args=["payments", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "succeeded 1" in result.output
    session.expire_all()
    assert session.get(Payment, payment.id).status is PaymentStatus.SUCCEEDED
    assert entries_of(session, payment) == 1
    # The acquirer resends the notification: answered 200, nothing more moves.
    assert client.post("/pay/notify/sandbox", data=body, headers=headers).status_code == 200
    again = runner.invoke(args=["payments", "reconcile"])
    assert "checked 0" in again.output
    assert entries_of(session, payment) == 1


def test_reconcile_gives_up_payments_the_acquirer_never_registered(session, runner, frozen_clock):
    payment = unregistered_payment(session, "f" * 32)
    session.commit()
    assert "still open 1" in runner.invoke(args=["payments", "reconcile"]).output
    frozen_clock.advance(hours=2)
    assert "canceled 1" in runner.invoke(args=["payments", "reconcile"]).output
    session.expire_all()
    done = session.get(Payment, payment.id)
    assert done.status is PaymentStatus.CANCELED and done.cancel_reason == "not_started"


def test_reconcile_does_not_give_up_a_payment_registered_while_it_looks(migrated_app):
    """Reconcile reads an hour-old payment the acquirer never registered, and meanwhile
    the payer's form, sent again, registers it (as a notification adopting it would):
    the payment is asked about, not canceled, so what the payer pays is credited."""
    from datetime import timedelta

    from portal.domain.payments import reconcile

    with migrated_app.app_context():
        with Session(db.engine) as setup:
            payment = unregistered_payment(setup, uuid.uuid4().hex)
            payment.created_at = payment.created_at - timedelta(hours=2)
            setup.commit()
            payment_id, account_id = payment.id, payment.account_id

        def acquirer(session):
            return sandbox.Provider.from_config(migrated_app.config, session)

        with Session(db.engine) as reconciling:
            result = reconcile.ReconcileResult()
            # reconcile_one's first look (kept: the session's map holds it): unregistered.
            seen = reconciling.get(Payment, payment_id)
            assert seen.provider_payment_id is None
            with Session(db.engine) as paying:
                start.register(
                    paying,
                    paying.get(Payment, payment_id),
                    acquirer(paying),
                    return_url="http://localhost/pay/1",
                    notify_url="http://localhost/pay/notify/sandbox",
                    actor="test",
                    block_threshold=0,
                )
                paying.commit()
            reconcile.reconcile_one(
                reconciling, payment_id, lambda _name: acquirer(reconciling), result,
                block_threshold=0,
            )  # fmt: skip
            reconciling.commit()
            assert (result.canceled, result.still_open) == (0, 1)
        with Session(db.engine) as paying:
            registered = paying.get(Payment, payment_id)
            assert registered.status is PaymentStatus.PENDING
            record = paying.get(sandbox.SandboxPayment, registered.provider_payment_id)
            acquirer(paying).pay(record, sandbox.CARD_SUCCEEDS)
            paying.commit()
        with Session(db.engine) as reconciling:
            reconcile.reconcile_one(
                reconciling, payment_id, lambda _name: acquirer(reconciling),
                reconcile.ReconcileResult(), block_threshold=0,
            )  # fmt: skip
            reconciling.commit()
        with Session(db.engine) as check:
            assert check.get(Payment, payment_id).status is PaymentStatus.SUCCEEDED
            assert check.get(Account, account_id).balance == 100_00
            assert ledger.balance_from_entries(check, account_id) == 100_00


def test_final_payment_never_changes(session):
    from portal.domain.payments import states
    from portal.domain.payments.errors import InvalidTransition

    payment = Payment(status=PaymentStatus.SUCCEEDED)
    with pytest.raises(InvalidTransition):
        states.move(payment, PaymentStatus.CANCELED)
    assert states.move(payment, PaymentStatus.SUCCEEDED) is False


# --- YooKassa over HTTP ----------------------------------------------------------------


@pytest.fixture
def fake_api():
    server = FakeYooKassa().start()
    yield server
    server.stop()


@pytest.fixture
def yookassa_app(app, fake_api):
    saved = dict(app.config)
    app.config.update(
        PORTAL_PAYMENT_PROVIDER="yookassa",
        PORTAL_YOOKASSA_SHOP_ID=SHOP_ID,
        PORTAL_YOOKASSA_SECRET_KEY=SECRET_KEY,
        PORTAL_YOOKASSA_API_URL=fake_api.api_url,
        PORTAL_YOOKASSA_CONNECT_TIMEOUT=0.5,
        PORTAL_YOOKASSA_READ_TIMEOUT=0.5,
    )
    yield app
    app.config.clear()
    app.config.update(saved)


@pytest.fixture
def payer(session, auth, frozen_clock):
    from tests.factories import PASSWORD

    frozen_clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    new = create_subscriber(session, login="ykpayer")
    session.commit()
    auth.login("ykpayer", PASSWORD)
    return new


def start_payment(client, amount="500"):
    from tests.web.test_payments import pay_form

    return client.post(
        "/pay/", data=pay_form(client) | {"amount": amount}, headers={"Accept-Language": "en"}
    )


def test_yookassa_payment_from_form_to_credit(yookassa_app, client, session, payer, fake_api):
    page = client.get("/pay/")
    assert "https://yoomoney.ru" in page.headers["Content-Security-Policy"]
    response = start_payment(client)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://yoomoney.ru/checkout/")
    payment = session.scalars(sa.select(Payment).order_by(Payment.id.desc())).first()
    assert fake_api.requests[-1]["key"].split("-")[0] == str(payment.id)  # id-creation time
    sent = fake_api.requests[-1]["body"]["confirmation"]
    assert sent["return_url"] == f"https://portal.test/pay/{payment.id}"  # PORTAL_PUBLIC_URL
    fake_api.set_status(payment.provider_payment_id, "succeeded")
    note = fake_api.notification(payment.provider_payment_id)
    environ = {"REMOTE_ADDR": YOOKASSA_IP}
    answer = client.post("/pay/notify/yookassa", data=note, environ_base=environ)
    assert answer.status_code == 200
    session.expire_all()
    payment = session.get(Payment, payment.id)
    assert payment.status is PaymentStatus.SUCCEEDED and entries_of(session, payment) == 1
    assert payment.fiscal_receipt["fiscal_document_number"] == "3986"
    again = client.post("/pay/notify/yookassa", data=note, environ_base=environ)
    assert again.status_code == 200 and entries_of(session, payment) == 1


def test_yookassa_notification_is_not_believed(yookassa_app, client, session, payer, fake_api):
    """A notification saying "succeeded" while the API says pending credits nothing."""
    start_payment(client)
    payment = session.scalars(sa.select(Payment).order_by(Payment.id.desc())).first()
    lie = fake_api.notification(payment.provider_payment_id, event="payment.succeeded")
    answer = client.post(
        "/pay/notify/yookassa", data=lie, environ_base={"REMOTE_ADDR": YOOKASSA_IP}
    )
    assert answer.status_code == 200
    session.expire_all()
    assert session.get(Payment, payment.id).status is PaymentStatus.PENDING
    assert entries_of(session, payment) == 0


def test_yookassa_notification_from_elsewhere_is_403(
    yookassa_app, client, session, payer, fake_api
):
    start_payment(client)
    payment = session.scalars(sa.select(Payment).order_by(Payment.id.desc())).first()
    fake_api.set_status(payment.provider_payment_id, "succeeded")
    note = fake_api.notification(payment.provider_payment_id)
    spoofed = {"X-Forwarded-For": YOOKASSA_IP}  # no trusted proxy configured: ignored
    answer = client.post(
        "/pay/notify/yookassa",
        data=note,
        headers=spoofed,
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert answer.status_code == 403
    assert entries_of(session, payment) == 0


def test_yookassa_down_is_a_clean_try_again_later(yookassa_app, client, session, payer):
    yookassa_app.config["PORTAL_YOOKASSA_API_URL"] = refused_url()
    response = start_payment(client)
    assert response.status_code == 503
    assert "try again in a few minutes" in response.get_data(as_text=True)
    payment = session.scalars(sa.select(Payment).order_by(Payment.id.desc())).first()
    assert payment.status is PaymentStatus.CREATED and payment.provider_payment_id is None


def test_trusted_proxy_header_is_used_only_when_configured(migrated_app, tmp_path, fake_api):
    app = make_test_app(
        migrated_app.config["DATABASE_URL"],
        tmp_path,
        PORTAL_TRUSTED_PROXIES=1,
        PORTAL_PAYMENT_PROVIDER="yookassa",
        PORTAL_YOOKASSA_SHOP_ID=SHOP_ID,
        PORTAL_YOOKASSA_SECRET_KEY=SECRET_KEY,
        # The payment is looked up at the acquirer: the local pretend one answers at once
        # (the real address is unreachable here and would cost a connect timeout).
        PORTAL_YOOKASSA_API_URL=fake_api.api_url,
    )
    client = app.test_client()
    body = b'{"type": "notification", "event": "payment.succeeded", "object": {"id": "x"}}'
    behind_proxy = {"X-Forwarded-For": YOOKASSA_IP}
    # Through the proxy from YooKassa: the address check lets it in.
    answer = client.post("/pay/notify/yookassa", data=body, headers=behind_proxy)
    assert answer.status_code != 403  # past the address check (then: no such payment)
    answer = client.post("/pay/notify/yookassa", data=body, headers={"X-Forwarded-For": "1.2.3.4"})
    assert answer.status_code == 403
    dispose(app)


# --- configuration ---------------------------------------------------------------------


def test_production_refuses_to_start_with_the_sandbox(migrated_app, tmp_path):
    url = migrated_app.config["DATABASE_URL"]
    with pytest.raises(RuntimeError, match="sandbox"):
        make_test_app(url, tmp_path, PORTAL_MODE="production", PORTAL_PAYMENT_PROVIDER="sandbox")
    with pytest.raises(RuntimeError, match="sandbox"):
        make_test_app(url, tmp_path, PORTAL_MODE="production", PORTAL_SANDBOX_ACQUIRER=True)
    app = make_test_app(url, tmp_path, PORTAL_MODE="production")
    assert app.config["PORTAL_PAYMENT_PROVIDER"] == ""
    assert app.test_client().get(sandbox.PAGES_PATH + "/pay/sbx_x").status_code == 404
    dispose(app)


def test_production_refuses_to_start_without_a_public_url(migrated_app, tmp_path):
    """Absolute URLs (the payer's way back, the acquirer's notifications) are made from
    PORTAL_PUBLIC_URL only; production must say what it is."""
    url = migrated_app.config["DATABASE_URL"]
    production = {"PORTAL_MODE": "production"}
    with pytest.raises(
        RuntimeError, match=r"PORTAL_PUBLIC_URL must be set in production.*https://"
    ):
        make_test_app(url, tmp_path, **production, PORTAL_PUBLIC_URL=None)
    with pytest.raises(RuntimeError, match="PORTAL_PUBLIC_URL must be https:// in production"):
        make_test_app(url, tmp_path, **production, PORTAL_PUBLIC_URL="http://my.1city.org")
    for wrong in ("my.1city.org", "https://my.1city.org/pay?x=1", "ftp://my.1city.org"):
        with pytest.raises(RuntimeError, match="PORTAL_PUBLIC_URL must be a scheme and a host"):
            make_test_app(url, tmp_path, **production, PORTAL_PUBLIC_URL=wrong)
    app = make_test_app(url, tmp_path, **production, PORTAL_PUBLIC_URL="https://my.1city.org/")
    assert app.config["PORTAL_PUBLIC_URL"] == "https://my.1city.org"
    dispose(app)


@pytest.mark.parametrize(
    "shop_id, secret_key, missing",
    [
        ("", SECRET_KEY, "PORTAL_YOOKASSA_SHOP_ID"),
        (SHOP_ID, "", "PORTAL_YOOKASSA_SECRET_KEY"),
        ("  ", None, "PORTAL_YOOKASSA_SHOP_ID"),
    ],
)
def test_production_refuses_yookassa_without_its_credentials(
    migrated_app, tmp_path, shop_id, secret_key, missing
):
    url = migrated_app.config["DATABASE_URL"]
    yookassa = {
        "PORTAL_MODE": "production",
        "PORTAL_PAYMENT_PROVIDER": "yookassa",
        "PORTAL_YOOKASSA_SHOP_ID": shop_id,
        "PORTAL_YOOKASSA_SECRET_KEY": secret_key,
    }
    with pytest.raises(RuntimeError, match=f"{missing} must be set for PORTAL_PAYMENT_PROVIDER"):
        make_test_app(url, tmp_path, **yookassa)
    complete = yookassa | {"PORTAL_YOOKASSA_SHOP_ID": SHOP_ID, "PORTAL_YOOKASSA_SECRET_KEY": "k"}
    app = make_test_app(url, tmp_path, **complete)
    assert app.config["PORTAL_PAYMENT_PROVIDER"] == "yookassa"
    dispose(app)


def test_yookassa_trusted_networks_that_are_not_networks_refuse_to_start(migrated_app, tmp_path):
    with pytest.raises(RuntimeError, match=r"PORTAL_YOOKASSA_TRUSTED_NETWORKS: 'yookassa\.ru'"):
        make_test_app(
            migrated_app.config["DATABASE_URL"],
            tmp_path,
            PORTAL_PAYMENT_PROVIDER="yookassa",
            PORTAL_YOOKASSA_SHOP_ID=SHOP_ID,
            PORTAL_YOOKASSA_SECRET_KEY=SECRET_KEY,
            PORTAL_YOOKASSA_TRUSTED_NETWORKS=("185.71.76.0/27", "yookassa.ru"),
        )


@pytest.mark.parametrize("name", ["PORTAL_PAYMENT_NOTIFY_LIMIT", "PORTAL_PAYMENT_STATUS_LIMIT"])
def test_a_limit_that_is_not_a_rate_refuses_to_start(migrated_app, tmp_path, name):
    """Found at the start, not as a 500 on the first notification."""
    with pytest.raises(RuntimeError, match=f"{name} must be a rate such as '600 per minute'"):
        make_test_app(migrated_app.config["DATABASE_URL"], tmp_path, **{name: "lots"})


@pytest.mark.parametrize("mode", ["demo", "development"])
def test_demo_and_development_default_to_the_demo_servers_address(migrated_app, tmp_path, mode):
    from portal import config

    url = migrated_app.config["DATABASE_URL"]
    app = make_test_app(url, tmp_path, PORTAL_MODE=mode, PORTAL_PUBLIC_URL=None)
    assert app.config["PORTAL_PUBLIC_URL"] == config.PUBLIC_URL_DEMO_DEFAULT
    assert config.PUBLIC_URL_DEMO_DEFAULT == "http://127.0.0.1:5000"  # `portal demo`'s default
    dispose(app)


def dispose(app) -> None:
    with app.app_context():
        db.engine.dispose()


def test_unknown_acquirer_in_configuration_refuses_to_start(migrated_app, tmp_path):
    with pytest.raises(Exception, match="nosuchbank"):
        make_test_app(
            migrated_app.config["DATABASE_URL"], tmp_path, PORTAL_PAYMENT_PROVIDER="nosuchbank"
        )


def test_sandbox_notify_url_is_the_portal_webhook(app, session):
    payment, _body, _headers = sandbox_paid_payment(app, session)
    record = session.get(sandbox.SandboxPayment, payment.provider_payment_id)
    assert urlsplit(record.notify_url).path == "/pay/notify/sandbox"


def test_acquirer_idempotence_key_is_the_rows_id_and_creation_time(app, session):
    """A reset database reuses row ids; the creation time keeps the acquirer's
    idempotence keys apart (YooKassa remembers them for 24 hours)."""
    from portal.domain.payments.errors import ProviderUnavailable

    seen = []

    class Recording(sandbox.Provider):
        def create(self, payment):
            seen.append(payment)
            raise ProviderUnavailable("recording only")

    payment = unregistered_payment(session, "k" * 32)
    with pytest.raises(ProviderUnavailable):
        start.register(
            session,
            payment,
            Recording.from_config(app.config, session),
            return_url="http://localhost/r",
            notify_url="http://localhost/n",
            actor="test",
            block_threshold=0,
        )
    millis = int(payment.created_at.timestamp() * 1000)
    assert [p.idempotence_key for p in seen] == [f"{payment.id}-{millis}"]


def paid_by_yookassa(client, session, fake_api) -> Payment:
    """A 500 ₽ YooKassa payment, succeeded and credited."""
    start_payment(client)
    payment = session.scalars(sa.select(Payment).order_by(Payment.id.desc())).first()
    fake_api.set_status(payment.provider_payment_id, "succeeded")
    note = fake_api.notification(payment.provider_payment_id)
    client.post("/pay/notify/yookassa", data=note, environ_base={"REMOTE_ADDR": YOOKASSA_IP})
    session.expire_all()
    return session.get(Payment, payment.id)


def notify_refund(client, fake_api, refund, **claims):
    body = fake_api.refund_notification(refund, **claims)
    return client.post("/pay/notify/yookassa", data=body, environ_base={"REMOTE_ADDR": YOOKASSA_IP})


def refunded(session, payment) -> int:
    entries = session.scalars(
        sa.select(LedgerEntry).where(
            LedgerEntry.account_id == payment.account_id, LedgerEntry.kind == "refund"
        )
    ).all()
    return -sum(e.amount for e in entries)


def test_a_refund_made_at_yookassa_is_debited_once(yookassa_app, client, session, payer, fake_api):
    """A refund made in the shop's dashboard: read back from the API, debited from the
    balance once however often it is notified, and the payment itself stays credited."""
    payment = paid_by_yookassa(client, session, fake_api)
    balance = session.get(Account, payment.account_id).balance
    refund = fake_api.add_refund(payment.provider_payment_id, "200.00")
    for _ in range(2):
        assert notify_refund(client, fake_api, refund).status_code == 200
    session.expire_all()
    assert refunded(session, payment) == 200_00
    account = session.get(Account, payment.account_id)
    assert account.balance == balance - 200_00
    assert account.balance == ledger.balance_from_entries(session, account.id)
    assert session.get(Payment, payment.id).status is PaymentStatus.SUCCEEDED
    events = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "payment.refunded")
    ).all()
    assert [e.data["amount"] for e in events] == [200_00]


def test_a_refund_notification_is_not_believed(yookassa_app, client, session, payer, fake_api):
    """The notification claims more than the API says: the API's amount is what counts;
    a refund the API does not know, or one still pending, moves nothing."""
    payment = paid_by_yookassa(client, session, fake_api)
    refund = fake_api.add_refund(payment.provider_payment_id, "100.00")
    lie = {"amount": {"value": "500.00", "currency": "RUB"}}
    assert notify_refund(client, fake_api, refund, **lie).status_code == 200
    session.expire_all()
    assert refunded(session, payment) == 100_00
    invented = {**refund, "id": "00000000-0000-0000-0000-000000000000"}
    assert notify_refund(client, fake_api, invented).status_code == 200
    pending = fake_api.add_refund(payment.provider_payment_id, "50.00", status="pending")
    assert notify_refund(client, fake_api, pending).status_code == 200
    session.expire_all()
    assert refunded(session, payment) == 100_00
    noted = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "payment.refund_noted")
    ).all()
    assert sorted(e.data["refund_status"] for e in noted) == ["pending", "unknown"]


def test_a_refund_larger_than_the_payment_is_refused_and_recorded(
    yookassa_app, client, session, payer, fake_api
):
    payment = paid_by_yookassa(client, session, fake_api)
    refund = fake_api.add_refund(payment.provider_payment_id, "900.00")
    assert notify_refund(client, fake_api, refund).status_code == 422
    session.expire_all()
    assert refunded(session, payment) == 0
    assert session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "payment.refund_mismatch")
    ).all()


def test_refunds_in_parts_never_give_back_more_than_was_paid(
    yookassa_app, client, session, payer, fake_api
):
    """Each part alone is within the payment; the third would take the total past it
    (the acquirer should never report that, so it goes to the staff, not the balance),
    and the second reported again is still debited once."""
    payment = paid_by_yookassa(client, session, fake_api)  # 500 ₽
    first = fake_api.add_refund(payment.provider_payment_id, "300.00")
    second = fake_api.add_refund(payment.provider_payment_id, "200.00")
    third = fake_api.add_refund(payment.provider_payment_id, "0.01")
    for refund in (first, second):
        assert notify_refund(client, fake_api, refund).status_code == 200
    assert notify_refund(client, fake_api, third).status_code == 422
    assert notify_refund(client, fake_api, second).status_code == 200
    session.expire_all()
    assert refunded(session, payment) == 500_00
    (mismatch,) = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "payment.refund_mismatch")
    ).all()
    assert mismatch.data["refund_id"] == third["id"]


def test_reconcile_reads_a_late_fiscal_receipt(
    yookassa_app, client, session, payer, fake_api, runner
):
    """The cash register was still registering the receipt when the payment succeeded:
    reconcile asks again and shows the receipt's numbers once they exist."""
    start_payment(client)
    payment = session.scalars(sa.select(Payment).order_by(Payment.id.desc())).first()
    fake_api.set_status(payment.provider_payment_id, "succeeded", receipt_registration="pending")
    note = fake_api.notification(payment.provider_payment_id)
    client.post("/pay/notify/yookassa", data=note, environ_base={"REMOTE_ADDR": YOOKASSA_IP})
    session.expire_all()
    assert session.get(Payment, payment.id).fiscal_receipt == {"registration": "pending"}

    first = runner.invoke(args=["payments", "reconcile"])
    assert "fiscal receipts updated 0" in first.output, first.output
    fake_api.set_status(payment.provider_payment_id, "succeeded")  # now registered
    second = runner.invoke(args=["payments", "reconcile"])
    assert "fiscal receipts updated 1" in second.output, second.output
    session.expire_all()
    receipt = session.get(Payment, payment.id).fiscal_receipt
    assert receipt["registration"] == "succeeded" and receipt["fiscal_document_number"] == "3986"
    assert entries_of(session, payment) == 1
    third = runner.invoke(args=["payments", "reconcile"])
    assert "fiscal receipts updated 0" in third.output
