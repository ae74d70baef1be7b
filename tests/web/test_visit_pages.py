"""The subscriber's visit pages: book into a real window, follow, move, cancel, rate."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from portal.domain.visits import requests
from portal.models import AccountStatus, VisitRequest, VisitState, VisitWindow
from tests.conftest import csrf_from
from tests.domain.test_visits import DISTRICT, POLICY, book, subscriber, technician, week
from tests.factories import PASSWORD


@pytest.fixture
def signed_in(client, session, auth, frozen_clock):
    """A subscriber of a district with a weekly schedule, signed in."""
    week(session, capacity=1)
    account = subscriber(session, login="visitor")
    session.commit()
    auth.login("visitor", PASSWORD)
    return account


def post(client, path, data, page="/visits/"):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def form(**fields):
    return {
        "category": "no_internet",
        "text": "Нет интернета\nс утра",
        "window": "2026-11-25T09:00",
        "address": "Ялта, ул. Морская, 1, кв. 2",
        "phone": "+7 978 765-43-21",
    } | fields


def test_the_page_shows_checks_first_and_the_real_schedule(client, signed_in):
    page = client.get("/visits/").get_data(as_text=True)
    assert page.index("Перезагрузите роутер") < page.index('name="category"')
    assert 'value="2026-11-24T14:00"' in page and 'value="2026-11-24T09:00"' not in page
    assert signed_in.address in page  # prefilled from the contract
    assert "заблокирован" not in page


def test_a_blocked_account_is_told_first(client, session, signed_in):
    signed_in.status = AccountStatus.BLOCKED
    session.commit()
    page = client.get("/visits/").get_data(as_text=True)
    assert "счёт заблокирован" in page and 'href="/pay/"' in page


def test_booking_shows_the_request_with_its_times(client, session, signed_in):
    answer = post(client, "/visits/", form())
    assert answer.status_code == 303
    visit = session.scalar(sa.select(VisitRequest))
    assert (visit.address, visit.phone) == ("Ялта, ул. Морская, 1, кв. 2", "+79787654321")
    assert visit.text == "Нет интернета\nс утра"
    page = client.get(answer.location).get_data(as_text=True)
    assert "Заявка принята" in page or "Ср, 25 ноября · 09:00–12:00" in page
    assert "24 ноября 2026, 12:00" in page  # requested at, local time


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"text": "x" * 10_000}, 400),
        ({"text": "Нет\x00 интернета"}, 400),  # PostgreSQL cannot store it: not a 500
        ({"window": "2026-11-23T09:00"}, 400),  # in the past
        ({"window": "2026-11-25T10:00"}, 400),  # no such window
        ({"window": "nonsense"}, 400),
        ({"category": "fire"}, 400),
        ({"phone": "12"}, 400),
        ({"address": ""}, 400),
    ],
)
def test_bad_input_is_a_clear_4xx(client, session, signed_in, fields, status):
    answer = post(client, "/visits/", form(**fields))
    assert answer.status_code == status
    assert 'class="alert alert-error"' in answer.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count(VisitRequest.id))) == 0


def test_a_full_window_is_refused(client, session, signed_in):
    book(session, subscriber(session))  # the only place
    session.commit()
    answer = post(client, "/visits/", form())
    assert answer.status_code == 409
    assert "заполнено" in answer.get_data(as_text=True)


def test_a_duplicate_points_to_the_open_request(client, session, signed_in):
    first = post(client, "/visits/", form())
    answer = post(client, "/visits/", form(window="2026-11-26T09:00"))
    assert answer.status_code == 409
    assert first.location.split("/")[-1] in answer.get_data(as_text=True)


def test_another_subscribers_request_is_404(client, session, signed_in):
    other = book(session, subscriber(session))
    session.commit()
    assert client.get(f"/visits/{other.id}").status_code == 404
    assert post(client, f"/visits/{other.id}/cancel", {}).status_code == 404
    assert client.get("/visits/999999").status_code == 404


def test_move_and_cancel_until_the_deadline(client, session, auth, signed_in, frozen_clock):
    path = post(client, "/visits/", form()).location
    moved = post(client, f"{path}/move", {"window": "2026-11-26T14:00"}, page=path)
    assert moved.status_code == 303
    visit = session.scalar(sa.select(VisitRequest))
    session.refresh(visit)
    assert str(visit.window.day) == "2026-11-26"
    assert session.scalar(sa.select(sa.func.sum(VisitWindow.booked))) == 1
    # 12:00 local on the day of the window: 2 hours before 14:00 it is too late.
    frozen_clock.set(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    auth.login("visitor", PASSWORD)  # two days on, the idle session has ended
    late = post(client, f"{path}/cancel", {}, page=path)
    assert late.status_code == 409
    frozen_clock.set(datetime(2026, 11, 26, 8, 59, tzinfo=UTC))
    assert post(client, f"{path}/cancel", {}, page=path).status_code == 303
    session.refresh(visit)
    assert visit.state is VisitState.CANCELLED


def test_the_move_form_does_not_offer_the_window_already_booked(client, session, signed_in):
    """With a place left in it, the booked window was offered as a place to move to,
    and choosing it was refused ("That is the window already booked")."""
    week(session, capacity=2)
    session.commit()
    path = post(client, "/visits/", form()).location
    page = client.get(path).get_data(as_text=True)
    move_form = page[page.index('id="move-form"') : page.index('id="cancel-form"')]
    assert 'value="2026-11-25T14:00"' in move_form
    assert 'value="2026-11-25T09:00"' not in move_form


def test_the_technicians_name_and_the_rating(client, session, signed_in):
    path = post(client, "/visits/", form()).location
    visit = session.scalar(sa.select(VisitRequest))
    who = technician(session)
    for to in (VisitState.CONFIRMED, VisitState.ON_THE_WAY):
        requests.advance(session, visit, to, POLICY, staff_id=1, technician_id=who.id)
    session.commit()
    assert "Пётр Мастеров" in client.get(path).get_data(as_text=True)
    assert post(client, f"{path}/rate", {"rating": "5"}, page=path).status_code == 409
    requests.advance(session, visit, VisitState.DONE, POLICY, staff_id=1)
    session.commit()
    assert post(client, f"{path}/rate", {"rating": "9"}, page=path).status_code == 400
    assert (
        post(client, f"{path}/rate", {"rating": "4", "comment": "ok"}, page=path).status_code == 303
    )
    session.refresh(visit)
    assert (visit.rating, visit.rating_comment) == (4, "ok")


def test_no_district_no_booking(client, session, signed_in):
    signed_in.district = ""
    session.commit()
    assert post(client, "/visits/", form()).status_code == 400
    assert DISTRICT not in client.get("/visits/").get_data(as_text=True)


def test_after_booking_the_visit_page_offers_push_without_asking_on_load(
    client, signed_in, monkeypatch
):
    monkeypatch.setitem(client.application.config, "PORTAL_PUSH_ENABLED", True)
    monkeypatch.setitem(client.application.config, "PORTAL_VAPID_PUBLIC_KEY", "BKey")
    answer = post(client, "/visits/", form())
    assert answer.status_code == 303
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    prompt = page.split('id="push"', 1)[1].split("</section>", 1)[0]
    assert 'data-push-key="BKey"' in prompt
    assert 'aria-labelledby="push-title" hidden' in prompt  # portal.js shows what fits
    assert "когда мастер выехал" in prompt  # why here: the visit's news
    assert 'id="push-on"' in prompt  # a button: permission is asked only when pressed
    monkeypatch.setitem(client.application.config, "PORTAL_PUSH_ENABLED", False)
    assert 'id="push"' not in client.get(answer.headers["Location"]).get_data(as_text=True)


def test_a_comment_with_a_control_character_is_a_clear_400(client, session, signed_in):
    path = post(client, "/visits/", form()).location
    visit = session.scalar(sa.select(VisitRequest))
    who = technician(session)
    for to in (VisitState.CONFIRMED, VisitState.ON_THE_WAY, VisitState.DONE):
        requests.advance(session, visit, to, POLICY, staff_id=1, technician_id=who.id)
    session.commit()
    answer = post(client, f"{path}/rate", {"rating": "4", "comment": "ok\x00"}, page=path)
    assert answer.status_code == 400
    assert "недопустимые символы" in answer.get_data(as_text=True)
    session.refresh(visit)
    assert visit.rating is None
