"""The promised payment's and the pause's pages: taken and paused through the forms,
bad input refused with a message and a 4xx, nothing half-written."""

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from portal.domain import ledger
from portal.models import (
    AccountStatus,
    AuditEvent,
    LedgerEntry,
    PromisedPayment,
    Suspension,
)
from tests.conftest import csrf_from
from tests.factories import PASSWORD, create_payment, create_subscriber, create_tariff, pay

EN = {"Accept-Language": "en"}


@pytest.fixture
def signed_in(session, auth, frozen_clock):
    """A subscriber at 10 ₽ a day (December), 15 ₽ left, on 1 December 2026, Yalta noon."""
    frozen_clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    tariff = create_tariff(session, price=310_00, name="Город")
    new = create_subscriber(
        session, login="credit", balance=15_00, tariffs=[tariff], start=date(2026, 11, 1)
    )
    session.commit()
    auth.login("credit", PASSWORD)
    return new.account


def post(client, path: str, data: dict, page: str | None = None):
    token = csrf_from(client.get(page or path, headers=EN).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token}, headers=EN)


def count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_taking_a_promised_payment(client, session, signed_in):
    page = client.get("/promised/", headers=EN).get_data(as_text=True)
    assert "Take the promised payment" in page
    answer = post(client, "/promised/", {"amount": "30000"})
    assert answer.status_code == 303
    session.expire_all()
    assert session.get(type(signed_in), signed_in.id).balance == 15_00 + 300_00 - 10_00
    home = client.get("/", headers=EN).get_data(as_text=True)
    assert "Promised payment of 300\xa0RUB until 5 December 2026" in home
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.event == "promised.taken"))
    assert event.actor.startswith("person:")
    # Twice: refused with the reason, nothing more written.
    entries = count(session, LedgerEntry)
    again = post(client, "/promised/", {"amount": "30000"})
    assert again.status_code == 400
    assert "already running until 5 December 2026" in again.get_data(as_text=True)
    assert count(session, LedgerEntry) == entries
    assert ledger.inconsistent_accounts(session) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Confirm the promised payment&#39;s sum."),
        ({"amount": "x"}, 'class="alert alert-error" role="alert"'),
        ({"amount": "-5"}, "Confirm the promised payment&#39;s sum."),
        ({"amount": "10000"}, "The terms have changed"),
    ],
)
def test_bad_promised_forms_are_400(client, session, signed_in, data, message):
    answer = post(client, "/promised/", data)
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    assert count(session, PromisedPayment) == 0


def test_a_promised_payment_not_needed_is_refused(client, session, signed_in, app, monkeypatch):
    monkeypatch.setitem(app.config, "PORTAL_PROMISED_WHEN_DAYS_LEFT", 1)
    page = client.get("/promised/", headers=EN).get_data(as_text=True)
    assert "The balance lasts long enough" in page
    answer = post(client, "/promised/", {"amount": "30000"})
    assert answer.status_code == 400
    assert count(session, PromisedPayment) == 0


def test_a_second_one_the_same_day_is_refused_with_its_reason(
    client, session, signed_in, app, monkeypatch
):
    """Two a month, the first repaid the day it was taken: one a day, and the page says
    so in the subscriber's language (not "already running", nor a button to press)."""
    monkeypatch.setitem(app.config, "PORTAL_PROMISED_PER_MONTH", 2)
    monkeypatch.setitem(app.config, "PORTAL_PROMISED_WHEN_DAYS_LEFT", 31)
    assert post(client, "/promised/", {"amount": "30000"}).status_code == 303
    pay(session, create_payment(session, signed_in, amount=300_00))
    session.commit()
    page = client.get("/promised/").get_data(as_text=True)
    assert "Обещанный платёж сегодня уже брали" in page
    answer = post(client, "/promised/", {"amount": "30000"})
    assert answer.status_code == 400
    assert "already been taken today" in answer.get_data(as_text=True)
    assert count(session, PromisedPayment) == 1


def test_pausing_resuming_and_cancelling(client, session, signed_in):
    answer = post(client, "/pause/", {"starts_on": "2026-12-01", "ends_on": "2026-12-10"})
    assert answer.status_code == 303
    session.expire_all()
    account = session.get(type(signed_in), signed_in.id)
    assert account.status is AccountStatus.SUSPENDED
    home = client.get("/", headers=EN).get_data(as_text=True)
    assert "Paused until 10 December 2026" in home and "Resume now" in home
    (pause,) = session.scalars(sa.select(Suspension)).all()
    token = csrf_from(home)
    resumed = client.post(
        f"/pause/{pause.id}/resume", data={"confirm": "yes", "csrf_token": token}, headers=EN
    )
    assert resumed.status_code == 303
    session.expire_all()
    assert session.get(Suspension, pause.id).ends_on == date(2026, 12, 1)
    assert session.get(type(signed_in), signed_in.id).status is AccountStatus.ACTIVE
    # One to come, cancelled before its start.
    later = post(client, "/pause/", {"starts_on": "2027-01-05", "ends_on": "2027-01-12"})
    assert later.status_code == 303
    coming = session.scalar(sa.select(Suspension).where(Suspension.starts_on == date(2027, 1, 5)))
    home = client.get("/", headers=EN).get_data(as_text=True)
    assert "Cancel the pause" in home
    cancelled = client.post(
        f"/pause/{coming.id}/cancel",
        data={"confirm": "yes", "csrf_token": csrf_from(home)},
        headers=EN,
    )
    assert cancelled.status_code == 303
    session.expire_all()
    assert session.get(Suspension, coming.id).cancelled_at is not None
    events = session.scalars(
        sa.select(AuditEvent.event).where(AuditEvent.event.like("suspension.%"))
    ).all()
    assert sorted(events) == [
        "suspension.cancelled",
        "suspension.requested",
        "suspension.requested",
        "suspension.resumed",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Enter the first day."),
        ({"starts_on": "2026-12-01"}, "Enter the last day."),
        ({"starts_on": " ", "ends_on": " "}, "Enter the first day."),  # was a 500
        ({"starts_on": "1.12.2026", "ends_on": "2026-12-10"}, "Enter a date as YYYY-MM-DD."),
        ({"starts_on": "2026-11-20", "ends_on": "2026-12-10"}, "cannot be in the past"),
        ({"starts_on": "2026-12-10", "ends_on": "2026-12-01"}, "cannot be before the first"),
        ({"starts_on": "2026-12-01", "ends_on": "2026-12-03"}, "at least 7 days"),
        ({"starts_on": "2026-12-01", "ends_on": "2027-06-01"}, "at most 90 days"),
    ],
)
def test_bad_pause_forms_are_400(client, session, signed_in, data, message):
    answer = post(client, "/pause/", data)
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    assert count(session, Suspension) == 0


def test_a_pause_fee_that_would_leave_the_balance_below_the_threshold_is_refused(
    client, session, signed_in, app, monkeypatch
):
    """15 ₽ on the balance, a 10 ₽ fee and a 10 ₽ reserve: 5 ₽ more, nothing written."""
    monkeypatch.setitem(app.config, "PORTAL_SUSPENSION_ACTIVATION_FEE", 10_00)
    monkeypatch.setitem(app.config, "PORTAL_BLOCK_THRESHOLD", 10_00)
    answer = post(client, "/pause/", {"starts_on": "2026-12-05", "ends_on": "2026-12-14"})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "The balance does not cover the fee: pay 5\xa0RUB more." in page
    assert count(session, Suspension) == 0


def test_someone_elses_pause_is_404(client, session, signed_in):
    other = create_subscriber(session, login="other")
    session.add(
        Suspension(
            account_id=other.account.id,
            starts_on=date(2026, 12, 1),
            ends_on=date(2026, 12, 10),
            created_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
    )
    session.commit()
    pause = session.scalar(sa.select(Suspension))
    for action in ("resume", "cancel"):
        answer = post(client, f"/pause/{pause.id}/{action}", {"confirm": "yes"}, page="/pause/")
        assert answer.status_code == 404
    session.expire_all()
    assert session.get(Suspension, pause.id).ends_on == date(2026, 12, 10)


def test_an_action_without_consent_is_400(client, session, signed_in):
    post(client, "/pause/", {"starts_on": "2026-12-05", "ends_on": "2026-12-12"})
    pause = session.scalar(sa.select(Suspension))
    answer = post(client, f"/pause/{pause.id}/cancel", {}, page="/pause/")
    assert answer.status_code == 400
    session.expire_all()
    assert session.get(Suspension, pause.id).cancelled_at is None


def post_in_russian(client, path: str, data: dict):
    token = csrf_from(client.get(path).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


def refusal(answer) -> str:
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    return html.split('role="alert"><p>', 1)[1].split("</p>", 1)[0]


@pytest.mark.parametrize(
    ("left", "sentence"),
    [
        (1, "В 2026 году остался только 1 день паузы (1 в год)."),
        (2, "В 2026 году осталось только 2 дня паузы (2 в год)."),
        (5, "В 2026 году осталось только 5 дней паузы (5 в год)."),
        (11, "В 2026 году осталось только 11 дней паузы (11 в год)."),
        (21, "В 2026 году остался только 21 день паузы (21 в год)."),
        (22, "В 2026 году осталось только 22 дня паузы (22 в год)."),
        (25, "В 2026 году осталось только 25 дней паузы (25 в год)."),
    ],
)
def test_the_days_of_pause_left_agree_with_their_number(
    client, signed_in, app, monkeypatch, left, sentence
):
    """A pause one day longer than the year has left is refused with the days left, in
    the form Russian gives that number ("1 день", "2 дня", "5 дней", "21 день")."""
    monkeypatch.setitem(app.config, "PORTAL_SUSPENSION_MIN_DAYS", 1)
    monkeypatch.setitem(app.config, "PORTAL_SUSPENSION_YEAR_DAYS", left)
    ends_on = date(2026, 12, 1 + left).isoformat()
    answer = post_in_russian(client, "/pause/", {"starts_on": "2026-12-01", "ends_on": ends_on})
    assert refusal(answer) == sentence


def test_the_days_of_pause_left_in_english(client, signed_in, app, monkeypatch):
    monkeypatch.setitem(app.config, "PORTAL_SUSPENSION_MIN_DAYS", 1)
    monkeypatch.setitem(app.config, "PORTAL_SUSPENSION_YEAR_DAYS", 1)
    answer = post(client, "/pause/", {"starts_on": "2026-12-01", "ends_on": "2026-12-02"})
    assert refusal(answer) == "Only 1 paused day is left in 2026 (1 a year)."


@pytest.mark.parametrize(
    ("days", "shortest", "longest", "sooner"),
    [
        (1, None, "не больше 1 дня.", "не позже чем через 1 день."),
        (2, "не меньше 2 дней.", "не больше 2 дней.", "не позже чем через 2 дня."),
        (5, "не меньше 5 дней.", "не больше 5 дней.", "не позже чем через 5 дней."),
        (21, "не меньше 21 дня.", "не больше 21 дня.", "не позже чем через 21 день."),
        (22, "не меньше 22 дней.", "не больше 22 дней.", "не позже чем через 22 дня."),
    ],
)
def test_the_pause_refusals_agree_with_the_numbers_of_the_terms(
    client, signed_in, app, monkeypatch, days, shortest, longest, sooner
):
    """The provider sets the terms (PORTAL_SUSPENSION_*): each refusal reads right in
    Russian whatever the number."""
    for setting in ("MIN_DAYS", "MAX_DAYS", "AHEAD_DAYS"):
        monkeypatch.setitem(app.config, f"PORTAL_SUSPENSION_{setting}", days)
    monkeypatch.setitem(app.config, "PORTAL_SUSPENSION_YEAR_DAYS", 365)
    if shortest:
        short = {"starts_on": "2026-12-01", "ends_on": "2026-12-01"}
        assert refusal(post_in_russian(client, "/pause/", short)) == "Пауза длится " + shortest
    long = {"starts_on": "2026-12-01", "ends_on": date(2026, 12, 1 + days).isoformat()}
    assert refusal(post_in_russian(client, "/pause/", long)) == "Пауза длится " + longest
    late = {"starts_on": date(2026, 12, 2 + days).isoformat(), "ends_on": "2026-12-31"}
    monkeypatch.setitem(app.config, "PORTAL_SUSPENSION_MAX_DAYS", 90)
    answer = post_in_russian(client, "/pause/", late)
    assert refusal(answer) == "Пауза может начаться " + sooner


@pytest.mark.parametrize(
    ("days", "sentence"),
    [
        (1, "Между двумя паузами должно быть не меньше 1 дня."),
        (21, "Между двумя паузами должно быть не меньше 21 дня."),
        (24, "Между двумя паузами должно быть не меньше 24 дней."),
    ],
)
def test_the_days_between_pauses_agree_with_their_number(
    client, signed_in, app, monkeypatch, days, sentence
):
    monkeypatch.setitem(app.config, "PORTAL_SUSPENSION_MIN_DAYS", 1)
    monkeypatch.setitem(app.config, "PORTAL_SUSPENSION_MIN_INTERVAL_DAYS", days)
    first = {"starts_on": "2026-12-01", "ends_on": "2026-12-01"}
    assert post_in_russian(client, "/pause/", first).status_code == 303
    second = {"starts_on": "2026-12-02", "ends_on": "2026-12-02"}
    assert refusal(post_in_russian(client, "/pause/", second)) == sentence


@pytest.mark.parametrize(
    ("least", "most", "year", "russian", "english"),
    [
        (
            1,
            21,
            21,
            ("от 1 до 21 дня", "21 день, использовано в 2026: 0"),
            ("1 to 21 days", "21 days, 0 used in 2026"),
        ),
        (
            7,
            90,
            1,
            ("от 7 до 90 дней", "1 день, использовано в 2026: 0"),
            ("7 to 90 days", "1 day, 0 used in 2026"),
        ),
        (
            2,
            22,
            22,
            ("от 2 до 22 дней", "22 дня, использовано в 2026: 0"),
            ("2 to 22 days", "22 days, 0 used in 2026"),
        ),
    ],
)
def test_the_pause_terms_agree_with_their_numbers(
    client, signed_in, app, monkeypatch, least, most, year, russian, english
):
    monkeypatch.setitem(app.config, "PORTAL_SUSPENSION_MIN_DAYS", least)
    monkeypatch.setitem(app.config, "PORTAL_SUSPENSION_MAX_DAYS", most)
    monkeypatch.setitem(app.config, "PORTAL_SUSPENSION_YEAR_DAYS", year)
    for headers, (length, a_year) in (({}, russian), (EN, english)):
        html = client.get("/pause/", headers=headers).get_data(as_text=True)
        assert f"<dd>{length}</dd>" in html
        assert f"<dd>{a_year}</dd>" in html


@pytest.mark.parametrize(
    ("number", "times", "days"),
    [
        (1, "1 раз в месяц", "услуги работают ещё 1 день."),
        (2, "2 раза в месяц", "услуги работают ещё 2 дня."),
        (5, "5 раз в месяц", "услуги работают ещё 5 дней."),
        (11, "11 раз в месяц", "услуги работают ещё 11 дней."),
        (21, "21 раз в месяц", "услуги работают ещё 21 день."),
        (22, "22 раза в месяц", "услуги работают ещё 22 дня."),
    ],
)
def test_the_promised_payment_terms_agree_with_their_numbers(
    client, signed_in, app, monkeypatch, number, times, days
):
    """The provider sets how often and for how long (PORTAL_PROMISED_*): the terms read
    right in Russian whatever the numbers."""
    monkeypatch.setitem(app.config, "PORTAL_PROMISED_PER_MONTH", number)
    monkeypatch.setitem(app.config, "PORTAL_PROMISED_DAYS", number)
    html = client.get("/promised/").get_data(as_text=True)
    assert f"<dd>с 1 по 31 число месяца, {times}</dd>" in html
    assert days in html


def test_the_promised_payment_terms_in_english(client, signed_in, app, monkeypatch):
    monkeypatch.setitem(app.config, "PORTAL_PROMISED_DAYS", 1)
    html = client.get("/promised/", headers=EN).get_data(as_text=True)
    assert "the services stay on for 1 day." in html
    assert "<dd>days 1 to 31 of a month, 1 a month</dd>" in html
