"""The subscriber's card in the console: the provider's block, the payments, the audit
trail's before and after, and the view as the subscriber (read only, marked, audited)."""

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal import clock
from portal.domain import sms, staff
from portal.domain.auth import credentials, view_as
from portal.domain.promos import images, promotions
from portal.domain.push import subscriptions
from portal.models import (
    Account,
    AccountStatus,
    AuditEvent,
    LoginSession,
    Notification,
    NotificationKind,
    PromotionState,
    StaffMember,
    StaffRole,
    Subscription,
)
from tests.conftest import AuthActions, csrf_from
from tests.domain import test_promos as promo_test
from tests.domain import test_visits as visits_test
from tests.factories import (
    PASSWORD,
    create_group,
    create_payment,
    create_promotion,
    create_service,
    create_staff,
    create_subscriber,
    create_tariff,
    pay,
)
from tests.web.test_form_bodies import snapshot
from tests.web.test_push_pages import browser_subscription
from tests.web.test_staff_subscribers import correction, signed_in_staff

REASON = "Самовольное подключение соседей"
BANNER = 'id="view-banner"'
PERIOD = timedelta(minutes=15)


@pytest.fixture
def holder(session):
    new = create_subscriber(session, name="Мария Сидорова", contract="660011", balance=300_00)
    session.commit()
    return new


def card(client, account_id: int) -> str:
    return client.get(f"/staff/subscribers/{account_id}").get_data(as_text=True)


def events(session, name: str) -> list[AuditEvent]:
    return list(
        session.scalars(
            sa.select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)
        )
    )


def post_block(client, account_id: int, action: str = "block", reason: str = REASON):
    token = csrf_from(card(client, account_id))
    return client.post(
        f"/staff/subscribers/{account_id}/{action}",
        data={"block_reason": reason, "csrf_token": token},
    )


# --- the provider's block -------------------------------------------------------------


def test_an_operator_blocks_and_unblocks_from_the_card(client, session, holder, auth):
    member = signed_in_staff(client, session)
    account = holder.account
    answer = post_block(client, account.id)
    assert answer.status_code == 303
    page = card(client, account.id)
    assert "Лицевой счёт заблокирован." in page
    assert "Заблокирован провайдером" in page and REASON in page
    assert "Снять блокировку провайдером" in page
    (event,) = events(session, "account.blocked_by_provider")
    assert event.actor == f"staff:{member.id}" and event.address == "127.0.0.1"
    assert event.data["after"]["status"] == "provider_blocked"
    # The subscriber's home says so plainly.
    subscriber = client.application.test_client()
    AuthActions(subscriber).login(holder.person.login, PASSWORD)
    home = subscriber.get("/").get_data(as_text=True)
    assert "Заблокирован провайдером" in home and "Оплата их не возобновит" in home
    assert REASON not in home  # the staff's reason is the staff's

    assert post_block(client, account.id, "unblock", "Разобрались").status_code == 303
    session.expire_all()
    assert session.get(Account, account.id).status is AccountStatus.ACTIVE
    (lifted,) = events(session, "account.unblocked_by_provider")
    assert lifted.data["reason"] == "Разобрались"
    assert "Блокировка провайдером снята." in card(client, account.id)


def test_unblocking_from_the_card_follows_the_configured_block_threshold(
    client, session, monkeypatch
):
    """A debt above PORTAL_BLOCK_THRESHOLD is no block for debt: the run would not block
    it, so lifting the provider's block leaves the account active."""
    monkeypatch.setitem(client.application.config, "PORTAL_BLOCK_THRESHOLD", -100_00)
    account = create_subscriber(session, balance=-50_00).account
    session.commit()
    signed_in_staff(client, session)
    assert post_block(client, account.id).status_code == 303
    assert post_block(client, account.id, "unblock", "Разобрались").status_code == 303
    session.expire_all()
    assert session.get(Account, account.id).status is AccountStatus.ACTIVE


def test_blocking_twice_changes_nothing_more(client, session, holder):
    signed_in_staff(client, session)
    assert post_block(client, holder.account.id).status_code == 303
    assert post_block(client, holder.account.id, reason="ещё раз").status_code == 303
    assert "уже заблокирован провайдером" in card(client, holder.account.id)
    assert len(events(session, "account.blocked_by_provider")) == 1


def test_a_block_reason_typed_on_several_lines_is_taken(client, session, holder):
    signed_in_staff(client, session)
    answer = post_block(client, holder.account.id, reason="Заявление абонента\r\nот 12.11")
    assert answer.status_code == 303
    session.expire_all()
    account = session.get(Account, holder.account.id)
    assert account.status is AccountStatus.BLOCKED_BY_PROVIDER
    assert account.block_reason == "Заявление абонента от 12.11"


@pytest.mark.parametrize(
    ("reason", "message"),
    [("", "Укажите причину."), ("   ", "Укажите причину."), ("я" * 301, "не больше 300")],
)
def test_a_block_without_a_reason_is_refused(client, session, holder, reason, message):
    signed_in_staff(client, session)
    answer = post_block(client, holder.account.id, reason=reason)
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    session.expire_all()
    assert session.get(Account, holder.account.id).status is AccountStatus.ACTIVE
    assert events(session, "account.blocked_by_provider") == []


@pytest.mark.parametrize("role", [StaffRole.ACCOUNTANT, StaffRole.DISPATCHER, StaffRole.MARKETING])
@pytest.mark.parametrize("action", ["block", "unblock"])
def test_only_operators_block_and_unblock(client, session, holder, role, action):
    signed_in_staff(client, session, role=role)
    token = csrf_from(client.get("/staff/").get_data(as_text=True))
    answer = client.post(
        f"/staff/subscribers/{holder.account.id}/{action}",
        data={"block_reason": REASON, "csrf_token": token},
    )
    assert answer.status_code == 403
    session.expire_all()
    assert session.get(Account, holder.account.id).status is AccountStatus.ACTIVE
    if role is not StaffRole.MARKETING:
        assert 'id="block-form"' not in card(client, holder.account.id)


# --- the payments on the card -----------------------------------------------------------


def test_the_card_lists_the_latest_payments_with_a_link_to_the_log(client, session, holder):
    paid = pay(session, create_payment(session, holder.account, amount=450_00))
    waiting = create_payment(session, holder.account, amount=120_00)
    other = create_payment(session, create_subscriber(session).account, amount=999_00)
    session.commit()
    signed_in_staff(client, session)
    page = card(client, holder.account.id)
    section = page[page.index('id="payments-title"') :]
    paid_row = re.search(rf'id="payment-{paid.id}">(.*?)</tr>', section, re.S).group(1)
    assert "450,00" in paid_row and "зачислен" in paid_row and "Банковская карта" in paid_row
    # Made and settled: two moments (any year: the test runs on the real clock).
    moments = re.findall(r"\d{1,2} \w+ \d{4}, \d{2}:\d{2}", paid_row)
    assert paid.provider_payment_id in paid_row and len(moments) >= 2
    waiting_row = re.search(rf'id="payment-{waiting.id}">(.*?)</tr>', section, re.S).group(1)
    assert "120,00" in waiting_row and "ждёт оплаты" in waiting_row and "—" in waiting_row
    assert f'id="payment-{other.id}"' not in page
    assert section.index(f"payment-{waiting.id}") < section.index(f"payment-{paid.id}")
    assert 'href="/staff/payments/?contract=660011"' in page


def test_the_cards_latest_entries_are_in_the_readers_language(client, session, holder):
    """Their stored words are Russian: the card draws each line from its purpose, as the
    subscriber's history does."""
    pay(session, create_payment(session, holder.account, amount=450_00))
    session.commit()
    signed_in_staff(client, session)
    english = client.get(
        f"/staff/subscribers/{holder.account.id}", headers={"Accept-Language": "en"}
    ).get_data(as_text=True)
    entries = english[english.index('id="ledger-title"') : english.index('id="payments-title"')]
    assert "Online payment by card" in entries and "Оплата" not in entries
    assert "Онлайн-оплата картой" in card(client, holder.account.id)


def a_message_to(session, holder) -> None:
    sms.queue(
        session,
        to_phone=holder.person.phone,
        text="Пароль изменён.",
        purpose="password_changed",
        person_id=holder.person.id,
    )
    session.commit()


def test_the_card_links_the_holders_messages_in_the_sms_log(client, session, holder):
    a_message_to(session, holder)
    signed_in_staff(client, session)
    page = card(client, holder.account.id)
    assert 'href="/staff/sms/?contract=660011"' in page
    log = client.get("/staff/sms/?contract=660011").get_data(as_text=True)
    assert "Пароль изменён." in log
    client.delete_cookie("portal_staff", path="/staff/")
    signed_in_staff(client, session, role=StaffRole.DISPATCHER)  # no SMS log for them
    assert 'id="sms-log-link"' not in card(client, holder.account.id)


def test_the_messages_column_is_their_purpose_not_a_payments(client, session, holder):
    """ "Purpose" over the text messages' purposes is not the bank transfer's
    "Назначение платежа" (the payment QR page's word)."""
    a_message_to(session, holder)
    signed_in_staff(client, session)
    for page in (card(client, holder.account.id), client.get("/staff/sms/?contract=660011")):
        html = page if isinstance(page, str) else page.get_data(as_text=True)
        assert "password_changed" in html
        assert "Назначение платежа" not in html
        assert '<th scope="col">Назначение</th>' in html


def test_a_dispatcher_sees_the_payments_but_no_link_to_the_log(client, session, holder):
    create_payment(session, holder.account)
    session.commit()
    signed_in_staff(client, session, role=StaffRole.DISPATCHER)
    page = card(client, holder.account.id)
    assert 'id="payments-title"' in page and "ждёт оплаты" in page
    assert 'id="payment-log-link"' not in page


def test_the_audit_trail_shows_what_changed_before_and_after(client, session, holder):
    signed_in_staff(client, session)
    form = correction(client, holder.account.id)
    assert client.post(f"/staff/subscribers/{holder.account.id}/correction", data=form).status_code
    post_block(client, holder.account.id)
    page = card(client, holder.account.id)
    assert re.search(r"Баланс: 300,00\s₽ → 450,50\s₽", page)
    assert "Состояние: Активен → Заблокирован провайдером" in page
    assert f"Причина блокировки: — → {REASON}" in page


# --- view as the subscriber --------------------------------------------------------------


def start_view(client, account_id: int):
    token = csrf_from(card(client, account_id))
    return client.post(f"/staff/subscribers/{account_id}/view", data={"csrf_token": token})


def view_sessions(session) -> list[LoginSession]:
    return list(
        session.scalars(sa.select(LoginSession).where(LoginSession.viewer_staff_id.is_not(None)))
    )


@pytest.fixture
def viewing(client, session, holder):
    """An operator viewing the holder's pages in this client; the operator."""
    member = signed_in_staff(client, session)
    answer = start_view(client, holder.account.id)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    return member


def subscriber_pages(app, ids: dict[str, int]) -> list[str]:
    """Every page of the subscriber's side, from the URL map (each id naming a real row
    of the holder's: `ids` by the URL's argument name)."""
    skipped_areas = {"auth", "pwa", "sms", "sandbox_acquirer", "view_as", "static"}
    pages = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        area = rule.endpoint.split(".")[0]
        if "GET" not in rule.methods or hasattr(view, "staff_roles") or area in skipped_areas:
            continue
        if rule.endpoint == "payments.preview":
            continue  # a fragment of the Pay page (without htmx: a redirect to it)
        pages.append(rule.build({name: ids[name] for name in rule.arguments})[1])
    return pages


def holders_rows(session, holder) -> dict[str, int]:
    """A row of each kind a subscriber's page names by id, the holder's own: a payment,
    a tariff of their group, an add-on, a visit request, a notification."""
    paid = pay(session, create_payment(session, holder.account, amount=450_00))
    group = create_group(session)
    current, other = create_tariff(session, group=group), create_tariff(session, group=group)
    session.add(
        Subscription(account_id=holder.account.id, tariff=current, started_on=date(2026, 1, 1))
    )
    holder.account.district = visits_test.DISTRICT
    visits_test.week(session)
    tomorrow = clock.local_today(visits_test.POLICY.tz) + timedelta(days=1)
    visit = visits_test.book(session, holder.account, key=f"{tomorrow.isoformat()}T09:00")
    notice = Notification(
        person_id=holder.person.id,
        kind=NotificationKind.PAYMENTS,
        title="Платёж зачислен",
        body="450 ₽",
        url="/history/",
        created_at=clock.now(),
    )
    session.add(notice)
    offer = promotion_with_picture(session)
    session.commit()
    return {
        "payment_id": paid.id,
        "tariff_id": other.id,
        "addon_id": create_service(session).id,
        "visit_id": visit.id,
        "notification_id": notice.id,
        "promotion_id": offer.id,
    }


def promotion_with_picture(session):
    """A promotion for everyone, running today, with its picture."""
    author = create_staff(session, role=StaffRole.MARKETING)
    today = clock.local_today(visits_test.POLICY.tz)
    offer = create_promotion(
        session, author, publish=False, starts_on=today, ends_on=today + timedelta(days=30)
    )
    picture = promo_test.picture("PNG")
    images.set_image(session, offer, picture, max_bytes=2**20, staff_id=author.id)
    promotions.move(session, offer, PromotionState.PUBLISHED, today, staff_id=author.id)
    return offer


def test_every_subscriber_page_opens_read_only_with_the_banner(client, session, holder, viewing):
    ids = holders_rows(session, holder)
    session.commit()
    pages = subscriber_pages(client.application, ids)
    assert {"/", "/history/", "/pay/", "/tariffs/", "/services/", "/profile/"} <= set(pages)
    for path in pages:
        answer = client.get(path)
        if answer.status_code in (302, 303):  # e.g. a phone code with no change waiting
            answer = client.get(answer.headers["Location"])
        assert answer.status_code == 200, path
        if answer.mimetype == "text/html" and "<html" in answer.get_data(as_text=True):
            html = answer.get_data(as_text=True)
            assert BANNER in html, path
            assert "Просмотр как абонент 660011 (Мария Сидорова) — только чтение" in html
            assert 'data-view-as="yes"' in html and "data-sign-out" in html
            assert 'action="/logout"' not in html  # "end view" stands for "sign out"
    home = client.get("/").get_data(as_text=True)
    assert "750,00" in home  # the subscriber's own figures, as the subscriber sees them


def subscriber_posts(app) -> list:
    """Every POST route of the subscriber's side but the two that end the view."""
    return [
        rule
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods
        and not hasattr(app.view_functions[rule.endpoint], "staff_roles")
        and rule.endpoint not in {"view_as.end", "auth.logout"}
    ]


def test_every_change_is_refused_and_nothing_is_written(client, session, holder, viewing):
    payment = create_payment(session, holder.account)
    session.commit()
    token = csrf_from(client.get("/").get_data(as_text=True))
    fields = {
        "csrf_token": token,
        "account_id": str(holder.account.id),
        "amount": "500",
        "method": "card",
        "password": PASSWORD,
        "current_password": PASSWORD,
        "new_password": "a-new-password-2026",
        "phone": "+7 978 765-43-21",
        "code": "123456",
        "lang": "en",
        "login": holder.person.login,
        "contract": "660011",
    }
    routes = subscriber_posts(client.application)
    endpoints = {rule.endpoint for rule in routes}
    assert {"home.switch_account", "payments.start", "profile.password", "auth.login"} <= endpoints
    before = snapshot(session)
    for rule in routes:
        path = rule.build(dict.fromkeys(rule.arguments, payment.id))[1]
        answer = client.post(path, data=fields)
        assert answer.status_code == 403, (rule.endpoint, answer.status_code)
        assert "только для чтения" in answer.get_data(as_text=True)
    htmx = client.post("/account", data=fields, headers={"HX-Request": "true"})
    assert htmx.status_code == 403 and "<html" not in htmx.get_data(as_text=True)
    session.expire_all()
    assert snapshot(session) == before
    assert client.get("/").status_code == 200  # still viewing


def test_the_view_is_audited_and_end_view_returns_to_the_card(client, session, holder, viewing):
    (started,) = events(session, "subscriber.view_started")
    assert started.actor == f"staff:{viewing.id}" and started.address == "127.0.0.1"
    assert (started.account_id, started.person_id) == (holder.account.id, holder.person.id)
    (record,) = view_sessions(session)
    assert record.viewer_staff_id == viewing.id and record.person_id == holder.person.id
    assert (
        record.expires_at - record.created_at
        == client.application.config["PORTAL_VIEW_AS_LIFETIME"]
    )
    token = csrf_from(client.get("/").get_data(as_text=True))
    answer = client.post("/view-as/end", data={"csrf_token": token})
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/staff/subscribers/{holder.account.id}"
    assert answer.headers["Clear-Site-Data"] == '"cache"'
    assert "Просмотр от имени абонента завершён." in client.get(
        answer.headers["Location"]
    ).get_data(as_text=True)
    (ended,) = events(session, "subscriber.view_ended")
    assert ended.actor == f"staff:{viewing.id}" and ended.account_id == holder.account.id
    assert ended.data["expired"] is False
    session.expire_all()
    assert view_sessions(session)[0].ended_at is not None
    assert client.get("/").headers["Location"].startswith("/login")
    # With no view left, "end view" has nothing to end.
    token = csrf_from(client.get("/login").get_data(as_text=True))
    assert client.post("/view-as/end", data={"csrf_token": token}).status_code == 404


def test_sign_out_in_a_view_ends_the_view_not_the_subscribers_sessions(
    client, session, holder, viewing, app
):
    own = app.test_client()
    assert AuthActions(own).login(holder.person.login, PASSWORD).status_code == 303
    token = csrf_from(client.get("/").get_data(as_text=True))
    answer = client.post("/logout", data={"csrf_token": token})
    assert answer.headers["Location"] == f"/staff/subscribers/{holder.account.id}"
    assert len(events(session, "subscriber.view_ended")) == 1
    assert events(session, "auth.signed_out") == []
    assert own.get("/").status_code == 200  # the subscriber's own session goes on


def test_sign_out_in_a_view_leaves_the_subscribers_push_devices(client, session, holder, viewing):
    endpoint = "https://push.example.com/send/holders-phone"
    data = browser_subscription(endpoint)
    subscriptions.subscribe(session, holder.person.id, data, user_agent="", allow_local=False)
    session.commit()
    token = csrf_from(client.get("/").get_data(as_text=True))
    answer = client.post("/logout", data={"csrf_token": token, "push_endpoint": endpoint})
    assert answer.headers["Location"] == f"/staff/subscribers/{holder.account.id}"
    session.expire_all()
    assert [d.endpoint for d in subscriptions.devices(session, holder.person.id)] == [endpoint]


def test_the_view_runs_out_and_never_slides(client, session, holder, frozen_clock):
    signed_in_staff(client, session)
    start_view(client, holder.account.id)
    (record,) = view_sessions(session)
    created, expires = record.created_at, record.expires_at
    frozen_clock.advance(minutes=10)
    assert client.get("/history/").status_code == 200
    session.expire_all()
    (record,) = view_sessions(session)
    assert (record.last_seen_at, record.expires_at) == (created, expires)
    frozen_clock.advance(minutes=6)
    answer = client.get("/")
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/staff/subscribers/{holder.account.id}"
    assert "его время вышло" in client.get(answer.headers["Location"]).get_data(as_text=True)
    (ended,) = events(session, "subscriber.view_ended")
    assert ended.data["expired"] is True
    session.expire_all()
    assert view_sessions(session)[0].ended_at == expires
    assert client.get("/").headers["Location"].startswith("/login")


def test_the_console_keeps_working_during_a_view(client, session, holder, viewing):
    form = correction(client, holder.account.id)
    answer = client.post(f"/staff/subscribers/{holder.account.id}/correction", data=form)
    assert answer.status_code == 303
    session.expire_all()
    assert session.get(Account, holder.account.id).balance == 450_50
    assert BANNER not in card(client, holder.account.id)
    assert client.get("/").status_code == 200  # and the view still opens


def test_a_view_writes_nothing_of_the_subscribers(client, session, holder, frozen_clock):
    signed_in_staff(client, session)
    tables = ("people", "accounts", "ledger_entries", "payments", "subscriptions", "sms_messages")
    before = {name: rows for name, rows in snapshot(session).items() if name in tables}
    start_view(client, holder.account.id)
    frozen_clock.advance(minutes=6)
    for path in ("/", "/history/", "/pay/", "/profile/", "/tariffs/", "/services/"):
        assert client.get(path).status_code == 200
    session.expire_all()
    after = {name: rows for name, rows in snapshot(session).items() if name in tables}
    assert after == before


@pytest.mark.parametrize("role", [StaffRole.ACCOUNTANT, StaffRole.DISPATCHER])
def test_every_card_reader_may_view(client, session, holder, role):
    signed_in_staff(client, session, role=role)
    assert 'id="view-form"' in card(client, holder.account.id)
    assert start_view(client, holder.account.id).headers["Location"] == "/"
    assert BANNER in client.get("/").get_data(as_text=True)


def test_marketing_may_not_view(client, session, holder):
    signed_in_staff(client, session, role=StaffRole.MARKETING)
    token = csrf_from(client.get("/staff/").get_data(as_text=True))
    answer = client.post(f"/staff/subscribers/{holder.account.id}/view", data={"csrf_token": token})
    assert answer.status_code == 403
    assert view_sessions(session) == []
    assert client.get("/").status_code == 302


def test_no_view_over_a_subscribers_own_session_in_this_browser(client, session, holder, auth):
    own = create_subscriber(session, login="staffhome")
    session.commit()
    assert auth.login(own.person.login, PASSWORD).status_code == 303
    signed_in_staff(client, session)
    answer = start_view(client, holder.account.id)
    assert answer.headers["Location"] == f"/staff/subscribers/{holder.account.id}"
    assert "сначала выйдите из него" in card(client, holder.account.id)
    assert view_sessions(session) == []
    assert own.account.contract_number in client.get("/").get_data(as_text=True)


def test_a_second_view_ends_the_first(client, session, holder, viewing):
    other = create_subscriber(session, contract="660012")
    session.commit()
    assert start_view(client, other.account.id).headers["Location"] == "/"
    assert "660012" in client.get("/").get_data(as_text=True)
    (ended,) = events(session, "subscriber.view_ended")
    assert ended.account_id == holder.account.id
    assert len(events(session, "subscriber.view_started")) == 2


def test_the_subscribers_session_count_leaves_a_view_out(session, holder):
    member = create_staff(session)
    own = credentials.start_session(
        session, holder.person, remember=False, lifetime=PERIOD, address=None, user_agent=None
    )
    staff_view = view_as.start(
        session, holder.account, staff_id=member.id, lifetime=PERIOD, address=None, user_agent=None
    )
    assert credentials.end_other_sessions(session, holder.person.id) == 1
    session.refresh(own.record)
    session.refresh(staff_view.record)
    assert own.record.ended_at is not None and staff_view.record.ended_at is None


def test_a_payments_page_in_a_view_does_not_ask_the_acquirer(
    client, session, holder, viewing, monkeypatch
):
    waiting = create_payment(session, holder.account)
    session.commit()
    asked = []
    monkeypatch.setattr(
        "portal.domain.payments.settle.finish_payment", lambda *a, **k: asked.append(a)
    )
    answer = client.get(f"/pay/{waiting.id}")
    assert answer.status_code == 200 and BANNER in answer.get_data(as_text=True)
    assert asked == []  # the subscriber's own look would have asked (and audited as them)


def test_signing_out_of_the_console_ends_the_open_view(client, session, holder, viewing):
    token = csrf_from(client.get("/staff/").get_data(as_text=True))
    assert client.post("/staff/logout", data={"csrf_token": token}).status_code == 303
    session.expire_all()
    (record,) = view_sessions(session)
    assert record.ended_at is not None
    (ended,) = events(session, "subscriber.view_ended")
    assert ended.actor == f"staff:{viewing.id}" and ended.data["with_console_session"] is True
    # The subscriber's pages are closed to this browser: it goes back to the card, which
    # asks for the console's sign-in again.
    answer = client.get("/")
    assert answer.headers["Location"] == f"/staff/subscribers/{holder.account.id}"
    assert client.get(answer.headers["Location"]).headers["Location"].startswith("/staff/login")


def test_a_new_role_ends_the_members_open_view(client, session, holder, viewing):
    """Moved to a role that reads no subscriber (marketing), the member must not keep a
    subscriber's pages open for the rest of the view's time."""
    admin = create_staff(session, role=StaffRole.ADMIN)
    session.commit()
    member = session.get(StaffMember, viewing.id)
    assert staff.change_role(session, member, "marketing", by=admin, address=None)
    session.commit()
    session.expire_all()
    (record,) = view_sessions(session)
    assert record.ended_at is not None
    (ended,) = events(session, "subscriber.view_ended")
    assert ended.actor == f"staff:{viewing.id}" and ended.data["reason"] == "role_changed"
    answer = client.get("/")
    assert answer.headers["Location"] == f"/staff/subscribers/{holder.account.id}"


def test_the_card_shows_promised_payments_pauses_and_scheduled_changes(
    client, session, holder, frozen_clock
):
    from datetime import UTC, datetime

    from portal.domain import ledger
    from portal.domain import tariff_change as tc
    from portal.models import EntryKind, PromisedPayment, PromisedState, Suspension

    frozen_clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    account = holder.account
    group = create_group(session)
    base = create_tariff(session, price=310_00, group=group, name="Город")
    later = create_tariff(session, price=465_00, group=group, name="Город+")
    session.add(Subscription(account_id=account.id, tariff=base, started_on=date(2026, 11, 1)))
    session.flush()
    session.expire(account, ["subscriptions"])
    tc.change(
        session,
        account.id,
        later.id,
        date(2026, 12, 1),
        person_id=account.person_id,
        form_key="card-test",
        block_threshold=0,
    )
    credit = ledger.post(session, account.id, EntryKind.CREDIT, 300_00, key="card-test-promise")
    promise = PromisedPayment(
        account_id=account.id,
        amount=300_00,
        fee=10_00,
        taken_on=date(2026, 11, 20),
        ends_on=date(2026, 11, 24),
        credit_entry_id=credit.entry.id,
        state=PromisedState.EXPIRED,
        closed_on=date(2026, 11, 25),
        created_at=clock.now(),
    )
    pause = Suspension(
        account_id=account.id,
        starts_on=date(2026, 12, 10),
        ends_on=date(2026, 12, 19),
        created_at=clock.now(),
    )
    session.add_all([promise, pause])
    session.commit()
    signed_in_staff(client, session)
    page = card(client, account.id)
    section = page[page.index('id="card-changes"') : page.index('id="visits-title"')]
    assert "Город+" in section and "1 января 2027" in section
    promise_row = re.search(rf'id="promise-{promise.id}">(.*?)</tr>', section, re.S).group(1)
    assert "300\xa0₽" in promise_row and "24 ноября 2026" in promise_row
    pause_row = re.search(rf'id="pause-{pause.id}">(.*?)</tr>', section, re.S).group(1)
    assert "10 декабря 2026" in pause_row and "19 декабря 2026" in pause_row
