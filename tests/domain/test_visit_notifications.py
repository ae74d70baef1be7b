"""How a visit message travels: kept in the notification centre always, pushed where the
subscriber allowed visit notifications and has a device, by SMS otherwise; the
evening-before reminder is sent once whichever way it goes."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from portal import jobs
from portal.domain.push import subscriptions
from portal.domain.visits import reminders, requests
from portal.domain.visits.notify import Channel, Event, notify
from portal.models import Notification, NotificationKind, SmsMessage, VisitState
from tests.domain import test_push
from tests.domain.test_visits import POLICY, book, subscriber, technician, week

PUSH = replace(POLICY, push=True)
# The push tests' own fixtures: push on with a key pair, and the local push service.
vapid = test_push.vapid
push_service = test_push.push_service
Browser = test_push.Browser


@pytest.fixture(autouse=True)
def app_context(app):
    with app.app_context():
        yield


def with_device(session, account, push_service):
    browser = Browser(push_service.origin + f"/push/visits-{account.id}")
    subscriptions.subscribe(
        session, account.person_id, browser.subscription(), user_agent="test", allow_local=True
    )
    session.flush()
    return browser


def sms_of(session, account):
    return session.scalars(
        sa.select(SmsMessage)
        .where(SmsMessage.person_id == account.person_id, SmsMessage.purpose.like("visit_%"))
        .order_by(SmsMessage.id)
    ).all()


def centre_of(session, account):
    return session.scalars(
        sa.select(Notification)
        .where(Notification.person_id == account.person_id)
        .order_by(Notification.id)
    ).all()


def confirm(session, visit, policy):
    requests.advance(
        session,
        visit,
        VisitState.CONFIRMED,
        policy,
        staff_id=1,
        technician_id=technician(session).id,
    )


def test_a_confirmation_is_pushed_to_a_device_that_wants_visits(
    app, session, frozen_clock, vapid, push_service
):
    week(session)
    account = subscriber(session)
    browser = with_device(session, account, push_service)
    visit = book(session, account)
    confirm(session, visit, PUSH)
    session.commit()
    jobs.drain(app)

    assert sms_of(session, account) == []
    [kept] = centre_of(session, account)
    assert kept.kind is NotificationKind.VISITS and kept.url == f"visits/{visit.id}"
    [request] = push_service.received
    assert request.path == f"/push/visits-{account.id}"
    assert request.headers["topic"] == "visits" and request.headers["urgency"] == "high"
    message = browser.decrypt(request.body)
    assert "Пётр Мастеров" in message["body"] and "25.11.2026 09:00–12:00" in message["body"]
    assert message["url"] == f"/notifications/{kept.id}/open"


def test_sms_when_no_device_is_subscribed(app, session, frozen_clock, vapid, push_service):
    week(session)
    account = subscriber(session)
    visit = book(session, account)
    confirm(session, visit, PUSH)
    session.commit()
    jobs.drain(app)

    [text] = sms_of(session, account)
    assert text.purpose == "visit_confirmed" and text.to_phone == "+79781234567"
    assert text.body.startswith("OneCity: ") and "Пётр Мастеров" in text.body
    assert push_service.received == []
    assert len(centre_of(session, account)) == 1  # listed in the centre all the same


def test_sms_when_visits_are_turned_off_or_push_is_off(session, frozen_clock, push_service):
    week(session)
    account = subscriber(session)
    with_device(session, account, push_service)
    visit = book(session, account)
    assert notify(session, visit, Event.MOVED, POLICY) is Channel.SMS  # push off here
    assert notify(session, visit, Event.MOVED, PUSH) is Channel.PUSH
    subscriptions.set_preferences(session, account.person_id, {NotificationKind.PAYMENTS})
    assert notify(session, visit, Event.MOVED, PUSH) is Channel.SMS
    assert [m.purpose for m in sms_of(session, account)] == ["visit_moved", "visit_moved"]


def test_a_message_in_the_subscribers_language(session, frozen_clock):
    week(session)
    account = subscriber(session)
    account.person.locale = "en"
    visit = book(session, account)
    notify(session, visit, Event.CANCELLED, POLICY)
    [text] = sms_of(session, account)
    assert text.body == "OneCity: The technician's visit on 25.11.2026 09:00–12:00 is cancelled."
    account.person.locale = "ru"
    notify(session, visit, Event.CANCELLED, POLICY)
    assert (
        sms_of(session, account)[-1].body
        == "OneCity: Визит мастера на 25.11.2026 09:00–12:00 отменён."
    )


def test_the_reminder_is_pushed_once(app, session, frozen_clock, vapid, push_service):
    week(session)
    account = subscriber(session)
    with_device(session, account, push_service)
    book(session, account)
    session.commit()
    frozen_clock.set(datetime(2026, 11, 24, 16, 0, tzinfo=UTC))
    jobs.drain(app)  # jobs other tests left for this hour: not this test's to count
    mine = [v for v in reminders.due(session, PUSH) if v.account_id == account.id]
    assert len(mine) == 1
    reminders.send_due(session, PUSH)
    reminders.send_due(session, PUSH)
    jobs.drain(app)

    assert [n.title for n in centre_of(session, account)] == ["Напоминание о визите мастера"]
    assert len(push_service.received) == 1 and sms_of(session, account) == []
