"""The dispatcher's console: the board, each state change (an audit event with before
and after, an SMS to the subscriber), the schedule and the technicians; the roles."""

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from portal.models import (
    AuditEvent,
    SmsMessage,
    StaffRole,
    Technician,
    VisitState,
    VisitWindow,
    VisitWindowTemplate,
)
from tests.conftest import csrf_from
from tests.domain.test_visits import DISTRICT, book, subscriber, technician, week
from tests.factories import create_staff
from tests.web.test_staff_console import StaffAuth

CONSOLE_PAGES = ["/staff/visits/", "/staff/visits/schedule", "/staff/visits/technicians"]


@pytest.fixture
def dispatcher(client, session, frozen_clock):
    member = create_staff(session, role=StaffRole.DISPATCHER)
    session.commit()
    StaffAuth(client).login(member.login, member=member)
    return member


def post(client, path, data, page="/staff/visits/"):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


@pytest.mark.parametrize("role", [StaffRole.OPERATOR, StaffRole.MARKETING, StaffRole.ACCOUNTANT])
def test_other_roles_are_refused(client, session, frozen_clock, role):
    member = create_staff(session, role=role)
    session.commit()
    StaffAuth(client).login(member.login, member=member)
    for path in CONSOLE_PAGES:
        assert client.get(path).status_code == 403


def test_the_admin_and_the_dispatcher_open_every_page(client, session, dispatcher):
    for path in CONSOLE_PAGES:
        assert client.get(path).status_code == 200


def test_confirm_on_the_way_done_with_audit_and_sms(client, session, dispatcher):
    week(session)
    visit = book(session, subscriber(session))
    who = technician(session)
    session.commit()
    page = client.get("/staff/visits/?day=2026-11-25").get_data(as_text=True)
    assert f"visit-{visit.id}" in page
    path = f"/staff/visits/{visit.id}/state"
    assert post(client, path, {"to": "on_the_way"}).status_code == 409  # not confirmed yet
    assert post(client, path, {"to": "confirmed"}).status_code == 400  # no technician
    answer = post(client, path, {"to": "confirmed", "technician": str(who.id)})
    assert answer.status_code == 303
    assert post(client, path, {"to": "on_the_way"}).status_code == 303
    assert post(client, path, {"to": "done"}).status_code == 303
    session.refresh(visit)
    assert visit.state is VisitState.DONE and visit.technician_id == who.id
    event = session.scalar(sa.select(AuditEvent).filter_by(event="visit.confirmed"))
    assert event.actor == f"staff:{dispatcher.id}"
    assert event.data["before"] == {"state": "requested", "technician": None}
    assert event.data["after"] == {"state": "confirmed", "technician": "Пётр Мастеров"}
    purposes = session.scalars(sa.select(SmsMessage.purpose).order_by(SmsMessage.id)).all()
    assert purposes == ["visit_confirmed", "visit_on_the_way"]


@pytest.mark.parametrize(
    "data",
    [
        {"to": "flying"},
        {"to": "confirmed", "technician": "x1"},
        {"to": "confirmed", "technician": "999999"},  # a forged id
        {"to": "confirmed", "technician": "2147483648"},  # past the id column's integer
        {},
    ],
)
def test_bad_state_changes_are_4xx(client, session, dispatcher, data):
    week(session)
    visit = book(session, subscriber(session))
    session.commit()
    assert post(client, f"/staff/visits/{visit.id}/state", data).status_code == 400
    assert post(client, "/staff/visits/999999/state", {"to": "done"}).status_code == 404


def test_the_dispatcher_moves_a_request(client, session, dispatcher):
    week(session, capacity=1)
    visit = book(session, subscriber(session))
    session.commit()
    path = f"/staff/visits/{visit.id}/move"
    assert post(client, path, {"window": "2026-11-25T09:00"}).status_code == 400  # same
    assert post(client, path, {"window": "2026-11-25T11:00"}).status_code == 400  # none
    assert post(client, path, {"window": "2026-11-27T14:00"}).status_code == 303
    session.refresh(visit)
    assert str(visit.window.day) == "2026-11-27"
    assert session.scalar(sa.select(SmsMessage.purpose)) == "visit_moved"


def test_a_released_request_is_not_moved_over_the_subscribers_newer_one(
    client, session, dispatcher, frozen_clock
):
    week(session)
    account = subscriber(session)
    first = book(session, account)  # Wednesday 09:00-12:00, nobody came
    frozen_clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    second = book(session, account, key="2026-11-26T09:00")
    session.commit()
    StaffAuth(client).login(dispatcher.login, member=dispatcher)  # a day on: signed out
    path, board = f"/staff/visits/{first.id}/move", "/staff/visits/?day=2026-11-25"
    answer = post(client, path, {"window": "2026-11-27T09:00"}, board)
    assert answer.status_code == 409
    assert f"№{second.id}" in answer.get_data(as_text=True)
    session.refresh(first)
    assert str(first.window.day) == "2026-11-25" and first.open_key is None


def test_the_schedule_template_and_a_holiday(client, session, dispatcher):
    page = "/staff/visits/schedule"
    data = {"district": DISTRICT, "weekday": "2", "starts": "09:00", "ends": "12:00"}
    assert post(client, page + "/template", data | {"capacity": "3"}, page).status_code == 303
    template = session.scalar(sa.select(VisitWindowTemplate))
    assert (template.weekday, template.capacity) == (2, 3)
    assert post(client, page + "/template", data | {"capacity": "500"}, page).status_code == 400
    bad = data | {"capacity": "1", "district": "Атлантида"}
    assert post(client, page + "/template", bad, page).status_code == 400
    late = data | {"capacity": "1", "ends": "08:00"}
    assert post(client, page + "/template", late, page).status_code == 400
    holiday = data | {"day": "2026-11-25", "capacity": "0"}
    assert post(client, page + "/day", holiday, page).status_code == 303
    text = client.get(page + f"?district={DISTRICT}").get_data(as_text=True)
    assert "занято 0 из 0" in text
    events = session.scalars(
        sa.select(AuditEvent.event)
        .where(AuditEvent.event.like("visit_%"))
        .order_by(AuditEvent.id)  # PostgreSQL gives rows in no set order without it
    )
    assert list(events) == ["visit_template.set", "visit_window.set"]


def test_a_window_for_a_date_gone_by_is_refused(client, session, dispatcher):
    """A year typed wrong must not be "saved" where no one books: today is 2026-11-24."""
    page = "/staff/visits/schedule"
    data = {"district": DISTRICT, "starts": "09:00", "ends": "12:00", "capacity": "0"}
    answer = post(client, page + "/day", data | {"day": "2025-11-25"}, page)
    assert answer.status_code == 400
    assert "Эта дата уже прошла" in answer.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count(VisitWindow.id))) == 0
    assert not session.scalars(
        sa.select(AuditEvent.event).where(AuditEvent.event == "visit_window.set")
    ).all()
    # Today is not gone by: a holiday may be set on the day itself.
    assert post(client, page + "/day", data | {"day": "2026-11-24"}, page).status_code == 303


def test_a_technician_is_added(client, session, dispatcher):
    page = "/staff/visits/technicians"
    data = {"name": "Анна Кабельная", "phone": "+7 978 111-22-33", "districts": [DISTRICT]}
    assert post(client, page, data, page).status_code == 303
    found = session.scalar(sa.select(Technician).where(Technician.name == "Анна Кабельная"))
    assert (found.phone, found.districts) == ("+79781112233", [DISTRICT])
    assert post(client, page, data | {"districts": ["Атлантида"]}, page).status_code == 400
    assert post(client, page, data | {"name": ""}, page).status_code == 400


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"districts": []}, "Выберите районы, где работает мастер."),
        ({"phone": "12345"}, "Укажите номер мобильного телефона"),
        ({"name": "   "}, "Укажите имя мастера"),
    ],
)
def test_a_bad_technician_is_refused_in_the_dispatchers_words(
    client, session, dispatcher, fields, message
):
    """Not the subscriber's "your contract has no district" for a technician's districts."""
    page = "/staff/visits/technicians"
    data = {"name": "Анна Кабельная", "phone": "", "districts": [DISTRICT]} | fields
    answer = post(client, page, data, page)
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert message in html and "вашего договора" not in html
    assert session.scalar(sa.select(sa.func.count(Technician.id))) == 0


def test_the_subscribers_card_lists_their_visit_requests(client, session, dispatcher):
    week(session)
    holder = subscriber(session)
    visit = book(session, holder)
    session.commit()
    card = client.get(f"/staff/subscribers/{visit.account_id}").get_data(as_text=True)
    row = card.split(f'id="visit-{visit.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Нет интернета" in row and "Заявка принята" in row
    assert f'href="/staff/visits/?day={visit.window.day.isoformat()}"' in row


def htmx(client, path, data, page="/staff/visits/"):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data}, headers={"HX-Request": "true"})


def test_the_move_picker_offers_windows_with_room_and_refuses_the_rest(client, session, dispatcher):
    week(session, capacity=1)
    visit = book(session, subscriber(session))
    book(session, subscriber(session), key="2026-11-26T09:00")  # that window is full
    session.commit()
    page = client.get("/staff/visits/?day=2026-11-25").get_data(as_text=True)
    picker = page.split(f'id="window-{visit.id}"', 1)[1].split("</select>", 1)[0]
    assert 'value="2026-11-24T14:00"' in picker and 'value="2026-11-26T14:00"' in picker
    for absent in ("2026-11-24T09:00", "2026-11-25T09:00", "2026-11-26T09:00"):
        assert f'value="{absent}"' not in picker
    path = f"/staff/visits/{visit.id}/move"
    past = post(client, path, {"window": "2026-11-24T09:00"})
    assert past.status_code == 400 and "уже началось или прошло" in past.get_data(as_text=True)
    far = post(client, path, {"window": "2026-12-20T09:00"})
    assert far.status_code == 400 and "дальше, чем можно" in far.get_data(as_text=True)
    assert post(client, path, {"window": "2026-11-26T09:00"}).status_code == 409  # full
    assert post(client, path, {"window": "nonsense"}).status_code == 400
    assert post(client, path, {"window": "x" * 10_000}).status_code == 400
    session.refresh(visit)
    assert str(visit.window.day) == "2026-11-25"


def test_board_actions_swap_the_row_over_htmx(client, session, dispatcher):
    week(session, capacity=2)
    visit = book(session, subscriber(session))
    other = book(session, subscriber(session))
    who = technician(session)
    session.commit()
    path = f"/staff/visits/{visit.id}/state"
    answer = htmx(client, path, {"to": "confirmed", "technician": str(who.id)})
    row = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert row.lstrip().startswith(f'<article class="queue-item" id="visit-{visit.id}"')
    assert "<html" not in row and "Пётр Мастеров" in row and "Подтверждён" in row
    assert "№" in json.loads(answer.headers["HX-Trigger"])["toast"]
    assert 'hx-target="closest article"' in row  # the next action swaps in place too
    # A refusal comes back in the row, with its status (the page swaps 4xx answers).
    busy = htmx(
        client, f"/staff/visits/{other.id}/state", {"to": "confirmed", "technician": str(who.id)}
    )
    text = busy.get_data(as_text=True)
    assert busy.status_code == 409 and f'id="visit-{other.id}"' in text
    assert f"другой визит (заявка №{visit.id})" in text and 'role="alert"' in text
    session.refresh(other)
    assert other.state is VisitState.REQUESTED and other.technician_id is None
    moved = htmx(client, f"/staff/visits/{visit.id}/move", {"window": "2026-11-27T14:00"})
    assert moved.status_code == 200 and "27 ноября" in moved.get_data(as_text=True)


def test_a_plain_post_still_redirects_to_the_board(client, session, dispatcher):
    week(session)
    visit = book(session, subscriber(session))
    session.commit()
    answer = post(client, f"/staff/visits/{visit.id}/state", {"to": "cancelled"})
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/staff/visits/?day=2026-11-25")


def test_a_technician_is_edited_and_deactivated(client, session, dispatcher):
    week(session)
    who = technician(session)
    visit = book(session, subscriber(session))
    session.commit()
    page = f"/staff/visits/technicians/{who.id}"
    assert client.get(page).status_code == 200
    data = {"name": "Пётр Кабельщик", "phone": "", "districts": [DISTRICT]}
    assert post(client, page + "/edit", data, page).status_code == 303
    session.refresh(who)
    assert (who.name, who.phone) == ("Пётр Кабельщик", "")
    bad = data | {"districts": ["Атлантида"]}
    assert post(client, page + "/edit", bad, page).status_code == 400
    confirmed = post(
        client, f"/staff/visits/{visit.id}/state", {"to": "confirmed", "technician": str(who.id)}
    )
    assert confirmed.status_code == 303
    refused = post(client, page + "/deactivate", {}, page)
    assert refused.status_code == 409 and "открытые заявки" in refused.get_data(as_text=True)
    post(client, f"/staff/visits/{visit.id}/state", {"to": "cancelled"})
    assert post(client, page + "/deactivate", {}, page).status_code == 303
    session.refresh(who)
    assert not who.active
    assert client.get(page).status_code == 404
    assert "Пётр Кабельщик" not in client.get("/staff/visits/technicians").get_data(as_text=True)
    assert client.get("/staff/visits/technicians/999999").status_code == 404


def test_the_technicians_page_sums_up_ratings(client, session, dispatcher):
    week(session, capacity=3)
    who = technician(session)
    for n, (stars, comment) in enumerate([(5, "Всё починил"), (2, "Опоздал на час")]):
        visit = book(session, subscriber(session), key=f"2026-11-2{5 + n}T09:00")
        visit.technician, visit.state = who, VisitState.DONE
        visit.rating, visit.rating_comment = stars, comment
        visit.rated_at = visit.created_at
    session.commit()
    page = client.get("/staff/visits/technicians").get_data(as_text=True)
    card = page.split(f'id="technician-{who.id}"', 1)[1].split("</article>", 1)[0]
    assert "3.5 из 5" in card and "2 оценки" in card
    assert "Всё починил" in card and "Опоздал на час" in card
