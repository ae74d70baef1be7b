"""The dispatcher's console: the board, each state change (an audit event with before
and after, an SMS to the subscriber), the schedule and the technicians; the roles."""

import pytest
import sqlalchemy as sa

from portal.models import (
    AuditEvent,
    SmsMessage,
    StaffRole,
    Technician,
    VisitState,
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


@pytest.mark.parametrize("data", [{"to": "flying"}, {"to": "confirmed", "technician": "x1"}, {}])
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
    events = session.scalars(sa.select(AuditEvent.event).where(AuditEvent.event.like("visit_%")))
    assert list(events) == ["visit_template.set", "visit_window.set"]


def test_a_technician_is_added(client, session, dispatcher):
    page = "/staff/visits/technicians"
    data = {"name": "Анна Кабельная", "phone": "+7 978 111-22-33", "districts": [DISTRICT]}
    assert post(client, page, data, page).status_code == 303
    found = session.scalar(sa.select(Technician))
    assert (found.phone, found.districts) == ("+79781112233", [DISTRICT])
    assert post(client, page, data | {"districts": ["Атлантида"]}, page).status_code == 400
    assert post(client, page, data | {"name": ""}, page).status_code == 400


def test_the_subscribers_card_lists_their_visit_requests(client, session, dispatcher):
    week(session)
    holder = subscriber(session)
    visit = book(session, holder)
    session.commit()
    card = client.get(f"/staff/subscribers/{visit.account_id}").get_data(as_text=True)
    row = card.split(f'id="visit-{visit.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Нет интернета" in row and "Заявка принята" in row
    assert f'href="/staff/visits/?day={visit.window.day.isoformat()}"' in row
