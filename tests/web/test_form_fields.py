"""Each field of each form, alone made awkward: from a body the route accepts, one field
at a time takes a NUL inside its text, a lone NUL, 5000 letters, a right-to-left mark,
a line break, a blank, a number past an id column's integer; no answer is a 500, and a
refusal (4xx) leaves the database as it was (but for what a refusal records by design:
RECORDED_REFUSALS).

The fuzzing (test_fuzz_forms) breaks many fields at once, so a form is refused for a
missing field before an awkward value reaches the database (a NUL, which PostgreSQL
refuses in text, was a 500 there and was never found). Here every other field is
valid, so each value goes as far as the route takes it.

The routes come from test_form_bodies (the URL map): a new form route fails
test_every_form_route_has_a_valid_body until VALID has its body. Each route's objects
are made in a savepoint, and each post is in one of its own, rolled back after it."""

import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from portal import jobs
from portal.domain import addons, sms, subscribers, suspension
from portal.domain import tariff_change as tc
from portal.domain.promos import images, promotions
from portal.domain.push import subscriptions
from portal.domain.visits import requests
from portal.extensions import limiter
from portal.models import PromotionState, SmsMessage, StaffRole, TakesEffect, VisitState
from tests.conftest import TEST_SECRET_KEY, AuthActions, csrf_from
from tests.domain.test_imports import HEADER
from tests.domain.test_visits import DISTRICT, POLICY, book, technician, week
from tests.factories import (
    PASSWORD,
    create_group,
    create_service,
    create_staff,
    create_subscriber,
    create_tariff,
    noted_refund,
    payment_on_review,
)
from tests.web.test_form_bodies import form_routes, snapshot, who_posts
from tests.web.test_promo_pages import picture
from tests.web.test_push_pages import browser_subscription
from tests.web.test_staff_catalog import TARIFF_FORM
from tests.web.test_staff_console import StaffAuth, code_for


def awkward(value: str) -> list[str]:
    """The values tried in place of a valid `value`."""
    middle = len(value) // 2
    tried = [
        value[:middle] + "\x00" + value[middle:],  # a NUL inside what is otherwise right
        "\x00",
        "a" * 5000,
        "\u202e" + value,  # right-to-left override: odd, but typed text
        value[:middle] + "\r\n" + value[middle:],
        " ",  # present, but blank
        "2147483648",  # one past PostgreSQL's integer, the type of every id column
    ]
    return list(dict.fromkeys(tried))


@dataclass(frozen=True)
class File:
    """A file of a multipart form: its awkward values go into its name."""

    content: bytes
    name: str


@dataclass
class Post:
    """A form as a route accepts it: where, what, from which browser, how encoded."""

    path: str
    body: dict[str, Any]
    client: Any
    token: str
    kind: str = "form"  # or "multipart", "json"

    def send(self, body: dict[str, Any]):
        if self.kind == "json":
            return self.client.post(
                self.path,
                data=json.dumps(body),
                content_type="application/json",
                headers={"X-CSRFToken": self.token},
            )
        data = {
            name: (io.BytesIO(value.content), value.name) if isinstance(value, File) else value
            for name, value in body.items()
        }
        content_type = "multipart/form-data" if self.kind == "multipart" else None
        return self.client.post(
            self.path, data={**data, "csrf_token": self.token}, content_type=content_type
        )


def variants(body: dict[str, Any]) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(field, value, body) with one field made awkward, the others as they were; a JSON
    body's nested fields too ("keys.auth")."""
    for name, value in body.items():
        if isinstance(value, dict):
            for inner, bad, changed in variants(value):
                yield f"{name}.{inner}", bad, body | {name: changed}
        elif isinstance(value, File):
            for bad in awkward(value.name):
                yield name, bad, body | {name: replace(value, name=bad)}
        elif isinstance(value, list):
            for bad in awkward(str(value[0]) if value else ""):
                yield name, bad, body | {name: [bad]}
        else:
            for bad in awkward(value):
                yield name, bad, body | {name: bad}


@dataclass
class World:
    """What every route's body is made from: the database, a browser signed in as a
    subscriber and one as an admin of the console (who may open every staff route)."""

    app: Any
    session: Any
    subscriber: Any = None  # test client
    account: Any = None
    person: Any = None
    staff: Any = None  # test client
    member: Any = None
    catalogue: dict = field(default_factory=dict)

    def browser(self):
        """A browser of its own, signed in nowhere."""
        return self.app.test_client()

    def token(self, client, page: str) -> str:
        return csrf_from(client.get(page).get_data(as_text=True))

    def as_subscriber(self, path: str, body: dict, page: str = "/", **kwargs) -> Post:
        return Post(path, body, self.subscriber, self.token(self.subscriber, page), **kwargs)

    def as_staff(self, path: str, body: dict, page: str = "/staff/", **kwargs) -> Post:
        return Post(path, body, self.staff, self.token(self.staff, page), **kwargs)

    def commit(self):
        self.session.commit()


# --- the valid bodies, by endpoint -------------------------------------------------------

VALID: dict[str, Callable[[World], Post]] = {}

# Form routes given no body here, and why.
EXCEPTIONS = {
    "view_as.end": "no fields, and only a staff member's view of a subscriber's pages has "
    "one to end (test_staff_card covers it)",
}


def valid(endpoint: str):
    """Register the function that makes `endpoint`'s valid body."""

    def register(make: Callable[[World], Post]):
        VALID[endpoint] = make
        return make

    return register


# Visitors (no one signed in).


@valid("auth.language")
def _(w: World) -> Post:
    client = w.browser()
    return Post("/language", {"lang": "en", "next": "/login"}, client, w.token(client, "/login"))


@valid("auth.login")
def _(w: World) -> Post:
    create_subscriber(w.session, login="visitor")
    w.commit()
    client = w.browser()
    body = {"login": "visitor", "password": PASSWORD, "remember": "y", "next": "/"}
    return Post("/login", body, client, w.token(client, "/login"))


@valid("auth.recover")
def _(w: World) -> Post:
    create_subscriber(w.session, contract="555777", phone="+79781234567")
    w.commit()
    client = w.browser()
    body = {"contract": "555777", "phone": "8 978 123-45-67", "send_sms": "y"}
    return Post("/recover", body, client, w.token(client, "/recover"))


@valid("staff.login")
def _(w: World) -> Post:
    member = create_staff(w.session, login="fieldman")
    w.commit()
    client = w.browser()
    body = {"login": member.login, "password": "staff-password-2026", "next": "/staff/"}
    return Post("/staff/login", body, client, w.token(client, "/staff/login"))


@valid("staff.code")
def _(w: World) -> Post:
    # A member of their own: the world's admin used this moment's code already.
    member = create_staff(w.session, role=StaffRole.ADMIN)
    w.commit()
    client = w.browser()
    StaffAuth(client).login(member.login)  # the password only: the code is asked next
    code = code_for(member.totp_secret)
    return Post("/staff/login/code", {"code": code}, client, w.token(client, "/staff/login/code"))


# The subscriber's forms.


@valid("addons.connect")
def _(w: World) -> Post:
    addon = create_service(w.session, name="Антивирус")
    w.commit()
    page = f"/services/{addon.id}/connect"
    return w.as_subscriber(page, {"promotion": ""}, page)


@valid("addons.disconnect")
def _(w: World) -> Post:
    addon = create_service(w.session, name="Антивирус")
    held = addons.connect(
        w.session, w.account.id, addon.id, date(2026, 11, 24), person_id=w.person.id, address=None
    )
    w.commit()
    return w.as_subscriber(f"/services/connected/{held.id}/disconnect", {}, "/services/")


@valid("home.switch_account")
def _(w: World) -> Post:
    second = subscribers.add_account(
        w.session, w.person, contract_number="DACHA-7", start=date(2026, 11, 1)
    )
    w.commit()
    return w.as_subscriber("/account", {"account_id": str(second.id)})


@valid("notifications.settings")
def _(w: World) -> Post:
    body = {"shown": "1", "payments": "y", "visits": "y", "promotions": "y"}
    return w.as_subscriber("/notifications/settings", body, "/notifications/settings")


@valid("notifications.subscribe")
def _(w: World) -> Post:
    body = browser_subscription()
    return w.as_subscriber("/notifications/push/subscribe", body, kind="json")


def about_this_device(w: World, path: str) -> Post:
    """A body naming the endpoint of a device the subscriber has."""
    body = browser_subscription()
    subscriptions.subscribe(w.session, w.person.id, body, user_agent="", allow_local=False)
    w.commit()
    return w.as_subscriber(path, {"endpoint": body["endpoint"]}, kind="json")


@valid("notifications.push_state")
def _(w: World) -> Post:
    return about_this_device(w, "/notifications/push/state")


@valid("notifications.unsubscribe")
def _(w: World) -> Post:
    return about_this_device(w, "/notifications/push/unsubscribe")


@valid("payments.start")
def _(w: World) -> Post:
    body = {"amount": "480", "method": "card", "creation_key": "ab" * 16, "currency": "RUB"}
    return w.as_subscriber("/pay/", body, "/pay/")


@valid("profile.password")
def _(w: World) -> Post:
    new = "a brand new password"
    body = {"current": PASSWORD, "new": new, "repeat": new}
    return w.as_subscriber("/profile/password", body, "/profile/password")


@valid("profile.phone")
def _(w: World) -> Post:
    body = {"password": PASSWORD, "phone": "+7 978 765-43-21"}
    return w.as_subscriber("/profile/phone", body, "/profile/phone")


@valid("profile.phone_confirm")
def _(w: World) -> Post:
    change = w.as_subscriber("/profile/phone", {"password": PASSWORD, "phone": "+7 978 765-43-21"})
    assert change.send(change.body).status_code == 303
    message = w.session.query(SmsMessage).filter_by(purpose="phone_code").one()
    with w.app.app_context():
        code = re.search(r"(\d{6})", sms.text_of(message, TEST_SECRET_KEY)).group(1)
    return w.as_subscriber("/profile/phone/confirm", {"code": code}, "/profile/phone/confirm")


@valid("promised.take")
def _(w: World) -> Post:
    return w.as_subscriber("/promised/", {"amount": "30000"}, "/promised/")


@valid("suspension.create")
def _(w: World) -> Post:
    body = {"starts_on": "2026-12-01", "ends_on": "2026-12-10"}
    return w.as_subscriber("/pause/", body, "/pause/")


def _pause(w: World, first: date, last: date) -> int:
    terms = suspension.Terms.from_config(w.app.config)
    with w.app.app_context():
        pause = suspension.request(
            w.session, w.account.id, first, last, date(2026, 11, 24), terms, actor="test"
        )
    w.commit()
    return pause.id


@valid("suspension.cancel")
def _(w: World) -> Post:
    pause = _pause(w, date(2026, 12, 5), date(2026, 12, 12))
    return w.as_subscriber(f"/pause/{pause}/cancel", {"confirm": "yes"})


@valid("suspension.resume")
def _(w: World) -> Post:
    pause = _pause(w, date(2026, 11, 24), date(2026, 12, 1))
    return w.as_subscriber(f"/pause/{pause}/resume", {"confirm": "yes"})


@valid("tariffs.compare")
def _(w: World) -> Post:
    page = f"/tariffs/{w.catalogue['later'].id}"
    return w.as_subscriber(page, {"key": "cd" * 16}, page)


@valid("tariffs.cancel")
def _(w: World) -> Post:
    with w.app.app_context():
        change = tc.change(
            w.session,
            w.account.id,
            w.catalogue["later"].id,
            date(2026, 11, 24),
            person_id=w.person.id,
            form_key="ef" * 16,
            block_threshold=0,
        )
    w.commit()
    return w.as_subscriber(f"/tariffs/changes/{change.id}/cancel", {}, "/tariffs/")


BOOKING = {
    "category": "no_internet",
    "text": "Нет интернета\nс утра",
    "window": "2026-11-25T09:00",
    "address": "Ялта, ул. Морская, 1, кв. 2",
    "phone": "+7 978 765-43-21",
}


@valid("visits.book")
def _(w: World) -> Post:
    return w.as_subscriber("/visits/", BOOKING, "/visits/")


def _visit(w: World, *states: VisitState) -> int:
    with w.app.app_context():
        visit = book(w.session, w.account)
        who = technician(w.session)
        for to in states:
            requests.advance(w.session, visit, to, POLICY, staff_id=1, technician_id=who.id)
    w.commit()
    return visit.id


@valid("visits.move")
def _(w: World) -> Post:
    path = f"/visits/{_visit(w)}"
    return w.as_subscriber(f"{path}/move", {"window": "2026-11-26T14:00"}, path)


@valid("visits.rate")
def _(w: World) -> Post:
    path = f"/visits/{_visit(w, VisitState.CONFIRMED, VisitState.ON_THE_WAY, VisitState.DONE)}"
    return w.as_subscriber(f"{path}/rate", {"rating": "4", "comment": "Быстро и вежливо"}, path)


# The console's forms (the admin may open every one).

GROUP = {
    "code": "tv-home",
    "name": "Телевидение",
    "kind": "tv",
    "fee_up": "0",
    "fee_down": "50,50",
    "fee_same": "0",
    "changes_per_month": "2",
}
ADDON = {
    "code": "tv-box",
    "name": "Приставка",
    "monthly_price": "100",
    "starts": "tomorrow",
    "requires": "",
    "description": "Приставка в аренду",
}
CATALOGUE = "/staff/catalogue"


@valid("catalog_staff.new_group")
def _(w: World) -> Post:
    return w.as_staff(f"{CATALOGUE}/groups/new", GROUP)


@valid("catalog_staff.edit_group")
def _(w: World) -> Post:
    group = w.catalogue["group"]
    body = GROUP | {"code": group.code, "kind": "internet"}
    return w.as_staff(f"{CATALOGUE}/groups/{group.id}", body)


@valid("catalog_staff.archive_group")
def _(w: World) -> Post:
    empty = create_group(w.session)  # a group with tariffs is not archived
    w.commit()
    return w.as_staff(f"{CATALOGUE}/groups/{empty.id}/archive", {"archived": "yes"})


@valid("catalog_staff.new_tariff")
def _(w: World) -> Post:
    body = TARIFF_FORM | {"group": str(w.catalogue["group"].id)}
    return w.as_staff(f"{CATALOGUE}/tariffs/new", body)


@valid("catalog_staff.edit_tariff")
def _(w: World) -> Post:
    tariff = w.catalogue["later"]
    body = TARIFF_FORM | {
        "code": tariff.code,
        "group": str(tariff.group_id),
        "takes_effect": "next_month",
    }
    return w.as_staff(f"{CATALOGUE}/tariffs/{tariff.id}", body)


@valid("catalog_staff.archive_tariff")
def _(w: World) -> Post:
    return w.as_staff(f"{CATALOGUE}/tariffs/{w.catalogue['later'].id}/archive", {"archived": "yes"})


@valid("catalog_staff.new_addon")
def _(w: World) -> Post:
    body = ADDON | {"excludes": [str(w.catalogue["addon"].id)]}
    return w.as_staff(f"{CATALOGUE}/addons/new", body)


@valid("catalog_staff.edit_addon")
def _(w: World) -> Post:
    addon = w.catalogue["addon"]
    body = ADDON | {"code": addon.code, "requires": f"group:{w.catalogue['group'].id}"}
    return w.as_staff(f"{CATALOGUE}/addons/{addon.id}", body)


@valid("catalog_staff.archive_addon")
def _(w: World) -> Post:
    path = f"{CATALOGUE}/addons/{w.catalogue['addon'].id}/archive"
    return w.as_staff(path, {"archived": "yes"})


IMPORT = "/staff/subscribers/import/"


def _csv() -> bytes:
    row = "5001;Иванов Иван;+7 978 111-22-33;Ялта, Морская, 1;Массандра;;;"
    return f"{HEADER}\n{row}\n".encode()


def _checked_import(w: World) -> str:
    """The page of an import checked by the world's admin (its dry run)."""
    upload = w.as_staff(IMPORT, {"file": File(_csv(), "billing.csv")}, IMPORT, kind="multipart")
    answer = upload.send(upload.body)
    assert answer.status_code == 303, answer.status_code
    return answer.headers["Location"]


@valid("imports_staff.upload")
def _(w: World) -> Post:
    return w.as_staff(IMPORT, {"file": File(_csv(), "billing.csv")}, IMPORT, kind="multipart")


@valid("imports_staff.run")
def _(w: World) -> Post:
    return w.as_staff(_checked_import(w) + "/run", {}, IMPORT)


@valid("imports_staff.sheets")
def _(w: World) -> Post:
    show = _checked_import(w)
    w.as_staff(show + "/run", {}).send({})
    jobs.drain(w.app)
    return w.as_staff(show + "/sheets", {}, IMPORT)


REASON = "Звонок абонента, чек банка"


@valid("payments_staff.resolve_payment")
def _(w: World) -> Post:
    payment = payment_on_review(w.session, w.account)
    w.commit()
    body = {"action": "credit", "reason": REASON, "key": "credit-key-000001"}
    return w.as_staff(f"/staff/payments/review/{payment.id}", body)


@valid("payments_staff.resolve_refund")
def _(w: World) -> Post:
    event = noted_refund(w.session)  # a refund of no payment known: marked handled
    w.commit()
    body = {"action": "handled", "reason": REASON, "key": "refund-key-000001"}
    return w.as_staff(f"/staff/payments/refunds/{event.id}", body)


PROMOTION = {
    "title": "Скорость ×2",
    "text": "Два месяца удвоенной скорости.\nБез доплаты.",
    "starts_on": "2026-11-24",
    "ends_on": "2026-12-31",
    "districts": [DISTRICT],
    "action": "",
    "promo_price": "",
    "promo_months": "",
}
PROMOS = "/staff/promotions"


def _promotion(w: World, state: PromotionState = PromotionState.DRAFT, image=False) -> int:
    draft = promotions.Draft(
        title="Скидка", text="Подробности", starts_on=date(2026, 11, 24), ends_on=date(2026, 12, 31)
    )
    with w.app.app_context():
        made = promotions.create(
            w.session, draft, known_districts=(DISTRICT,), staff_id=w.member.id
        )
        if image:
            images.set_image(w.session, made, picture(), max_bytes=10**6, staff_id=w.member.id)
        if state is not PromotionState.DRAFT:
            promotions.move(
                w.session, made, PromotionState.PUBLISHED, date(2026, 11, 24), staff_id=w.member.id
            )
    w.commit()
    return made.id


@valid("promos_staff.new")
def _(w: World) -> Post:
    body = PROMOTION | {"tariffs": [str(w.catalogue["base"].id)]}
    return w.as_staff(f"{PROMOS}/new", body, f"{PROMOS}/new")


@valid("promos_staff.edit")
def _(w: World) -> Post:
    addon = w.catalogue["addon"]
    body = PROMOTION | {"action": str(addon.id), "promo_price": "99,50", "promo_months": "2"}
    path = f"{PROMOS}/{_promotion(w)}/edit"
    return w.as_staff(path, body, path)


@valid("promos_staff.publish")
def _(w: World) -> Post:
    return w.as_staff(f"{PROMOS}/{_promotion(w)}/publish", {})


@valid("promos_staff.withdraw")
def _(w: World) -> Post:
    return w.as_staff(f"{PROMOS}/{_promotion(w, PromotionState.PUBLISHED)}/withdraw", {})


@valid("promos_staff.push")
def _(w: World) -> Post:
    return w.as_staff(f"{PROMOS}/{_promotion(w, PromotionState.PUBLISHED)}/push", {})


@valid("promos_staff.upload_image")
def _(w: World) -> Post:
    path = f"{PROMOS}/{_promotion(w)}"
    body = {"image": File(picture(), "banner.png")}
    return w.as_staff(f"{path}/image/upload", body, path, kind="multipart")


@valid("promos_staff.remove_image")
def _(w: World) -> Post:
    return w.as_staff(f"{PROMOS}/{_promotion(w, image=True)}/image/remove", {})


@valid("staff.enrol")
def _(w: World) -> Post:
    # An operator not enrolled yet, in a browser of their own.
    member = create_staff(w.session, role=StaffRole.OPERATOR)
    w.commit()
    client = w.browser()
    StaffAuth(client).login(member.login)
    page = client.get("/staff/totp").get_data(as_text=True)
    secret = re.search(r'id="totp-key">([A-Z2-7]+)<', page).group(1)
    return Post("/staff/totp", {"code": code_for(secret)}, client, csrf_from(page))


def _card(w: World) -> str:
    return f"/staff/subscribers/{w.account.id}"


@valid("subscribers_staff.block")
def _(w: World) -> Post:
    body = {"block_reason": "Заявление абонента"}
    return w.as_staff(_card(w) + "/block", body, _card(w))


@valid("subscribers_staff.unblock")
def _(w: World) -> Post:
    subscribers.block(w.session, w.account.id, reason="Заявление", actor="test")
    w.commit()
    body = {"block_reason": "Абонент вернулся"}
    return w.as_staff(_card(w) + "/unblock", body, _card(w))


@valid("subscribers_staff.correct")
def _(w: World) -> Post:
    body = {"amount": "150,50", "reason": "Перерасчёт за аварию 12.11", "key": "k" * 16}
    return w.as_staff(_card(w) + "/correction", body, _card(w))


@valid("subscribers_staff.new")
def _(w: World) -> Post:
    body = {
        "contract": "77001",
        "name": "Мария Петровна Сидорова",
        "phone": "8 (978) 765-43-21",
        "address": "Ялта, ул. Морская, д. 3, кв. 5",
        "district": DISTRICT,
        "internet": w.catalogue["base"].code,
        "tv": "",
        "addons": [w.catalogue["addon"].code],
    }
    return w.as_staff("/staff/subscribers/new", body, "/staff/subscribers/new")


@valid("team_staff.new")
def _(w: World) -> Post:
    body = {"login": "new.member", "name": "Анна Новикова", "role": "operator"}
    return w.as_staff("/staff/team/new", body, "/staff/team/new")


@valid("team_staff.role")
def _(w: World) -> Post:
    other = create_staff(w.session, role=StaffRole.OPERATOR)
    w.commit()
    return w.as_staff(f"/staff/team/{other.id}/role", {"role": "accountant"})


VISITS = "/staff/visits"


def _technician(w: World) -> int:
    with w.app.app_context():
        who = technician(w.session)
    w.commit()
    return who.id


@valid("visits_staff.add_technician")
def _(w: World) -> Post:
    body = {"name": "Анна Кабельная", "phone": "+7 978 111-22-33", "districts": [DISTRICT]}
    return w.as_staff(f"{VISITS}/technicians", body, f"{VISITS}/technicians")


@valid("visits_staff.edit_technician")
def _(w: World) -> Post:
    body = {"name": "Пётр Кабельщик", "phone": "+7 978 111-22-34", "districts": [DISTRICT]}
    return w.as_staff(f"{VISITS}/technicians/{_technician(w)}/edit", body, f"{VISITS}/technicians")


@valid("visits_staff.deactivate_technician")
def _(w: World) -> Post:
    path = f"{VISITS}/technicians/{_technician(w)}"
    return w.as_staff(path + "/deactivate", {}, path)


@valid("visits_staff.advance")
def _(w: World) -> Post:
    visit = _visit(w)
    body = {"to": "confirmed", "technician": str(_technician(w))}
    return w.as_staff(f"{VISITS}/{visit}/state", body, f"{VISITS}/")


@valid("visits_staff.move")
def _(w: World) -> Post:
    return w.as_staff(f"{VISITS}/{_visit(w)}/move", {"window": "2026-11-27T14:00"}, f"{VISITS}/")


WINDOW = {"district": DISTRICT, "starts": "09:00", "ends": "12:00", "capacity": "3"}


@valid("visits_staff.set_template")
def _(w: World) -> Post:
    page = f"{VISITS}/schedule"
    return w.as_staff(f"{page}/template", WINDOW | {"weekday": "2"}, page)


@valid("visits_staff.set_day")
def _(w: World) -> Post:
    page = f"{VISITS}/schedule"
    return w.as_staff(f"{page}/day", WINDOW | {"day": "2026-11-25"}, page)


# --- what a refusal may write --------------------------------------------------------------

# Refusals that are recorded by design (a wrong password or code counts against the limits
# and is audited): the tables they may change.
_WRONG_PASSWORD = {"audit_events", "people"}  # audited, counted towards the lockout
RECORDED_REFUSALS: dict[str, set[str]] = {
    "auth.login": _WRONG_PASSWORD,
    "profile.password": _WRONG_PASSWORD,
    "profile.phone": _WRONG_PASSWORD,
    "profile.phone_confirm": {"phone_changes"},  # the code's tries
    "staff.login": {"audit_events", "staff_members"},
    "staff.code": {"audit_events", "staff_members", "staff_sessions"},  # and the session's
    "staff.enrol": {"audit_events"},
}


# --- running it ----------------------------------------------------------------------------


@contextmanager
def undone(w: World, connection):
    """Whatever is done inside is rolled back: a savepoint on the test's connection, the
    browsers' cookies and the limits' counts as they were."""
    session = w.session
    session.commit()
    point = connection.begin_nested()
    try:
        yield
    finally:
        session.rollback()
        point.rollback()
        session.expire_all()
        with w.app.app_context():
            limiter.reset()
        jobs.forget_pending(w.app)


@contextmanager
def cookies_kept(client):
    """The browser's cookies as they were before (a sign-in or a sign-out undone)."""
    kept = dict(client._cookies)
    try:
        yield
    finally:
        client._cookies.clear()
        client._cookies.update(kept)


@contextmanager
def writes_seen(connection) -> Iterator[list[str]]:
    """The INSERT, UPDATE and DELETE statements sent on `connection` meanwhile: with none,
    nothing changed, and the database need not be read again to know it."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            seen.append(statement)

    sa.event.listen(connection, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(connection, "before_cursor_execute", note)


def changed_tables(before: dict, after: dict) -> set[str]:
    return {name for name in before if before[name] != after[name]}


def try_route(w: World, connection, endpoint: str) -> list[tuple]:
    """The valid body is accepted; then each field alone made awkward. The problems."""
    problems = []
    with undone(w, connection):
        post = VALID[endpoint](w)
        with cookies_kept(post.client), undone(w, connection):
            answer = post.send(post.body)
        assert answer.status_code < 400, (endpoint, answer.status_code, "the valid body")
        before = snapshot(connection)
        allowed = RECORDED_REFUSALS.get(endpoint, set())
        for name, value, body in variants(post.body):
            with cookies_kept(post.client), undone(w, connection):
                with writes_seen(connection) as writes:
                    status = post.send(body).status_code
                if status >= 500:
                    problems.append((endpoint, name, value[:12], status))
                elif status >= 400 and writes:
                    wrote = changed_tables(before, snapshot(connection)) - allowed
                    if wrote:
                        problems.append((endpoint, name, value[:12], status, sorted(wrote)))
    return problems


def subscriber_world(w: World) -> None:
    week(w.session)
    group = create_group(w.session)
    base = create_tariff(w.session, price=310_00, group=group, name="Город")
    later = create_tariff(
        w.session, price=465_00, group=group, name="Город Плюс", takes_effect=TakesEffect.NEXT_MONTH
    )
    addon = create_service(w.session, price=150_00, name="Статический IP")
    new = create_subscriber(
        w.session, login="fields", balance=15_00, tariffs=[base], start=date(2026, 11, 1)
    )
    new.account.district = DISTRICT
    w.commit()
    w.account, w.person = new.account, new.person
    w.catalogue = {"group": group, "base": base, "later": later, "addon": addon}
    w.subscriber = w.browser()
    assert AuthActions(w.subscriber).login("fields", PASSWORD).status_code == 303


def staff_world(w: World) -> None:
    subscriber_world(w)
    w.member = create_staff(w.session, role=StaffRole.ADMIN)
    w.commit()
    w.staff = w.browser()
    assert StaffAuth(w.staff).login(w.member.login, member=w.member).status_code == 303


GROUPS = {
    "visitor": ({"anonymous", "staff-pending"}, lambda w: None),
    "subscriber": ({"subscriber"}, subscriber_world),
    "staff": ({"staff", "staff-admin", "staff-dispatcher"}, staff_world),
}


def test_every_form_route_has_a_valid_body(app):
    endpoints = {endpoint for endpoint, _ in form_routes(app)}
    missing = endpoints - set(VALID) - set(EXCEPTIONS)
    assert not missing, f"form routes without a valid body in VALID: {sorted(missing)}"
    assert not set(VALID) - endpoints, "bodies of routes that are no form route (any more)"
    assert not set(EXCEPTIONS) & set(VALID)
    grouped = set().union(*(whose for whose, _ in GROUPS.values()))
    assert {who_posts(app, endpoint) for endpoint in endpoints} <= grouped


@pytest.mark.parametrize("group", list(GROUPS))
def test_each_field_alone_awkward_is_never_a_500_nor_a_half_change(
    app, session, frozen_clock, monkeypatch, group
):
    from portal.domain.push import keys

    pair = keys.generate()
    monkeypatch.setitem(app.config, "PORTAL_PUSH_ENABLED", True)
    monkeypatch.setitem(app.config, "PORTAL_VAPID_PRIVATE_KEY", pair["private_key"])
    monkeypatch.setitem(app.config, "PORTAL_VAPID_PUBLIC_KEY", pair["public_key"])
    whose, make_world = GROUPS[group]
    w = World(app, session)
    make_world(w)
    connection = app.config["TEST_CONNECTION"]
    endpoints = [e for e, _ in form_routes(app) if who_posts(app, e) in whose and e in VALID]
    assert endpoints
    problems = []
    for endpoint in endpoints:
        problems += try_route(w, connection, endpoint)
    assert problems == [], "\n".join(map(repr, problems))
