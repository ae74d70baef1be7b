"""Values that are not strings (finding 4): every form of the portal answers a JSON body
of numbers, lists, objects or null with a 4xx, never a 500, and writes nothing.

The routes come from the app's URL map and the field names from every form class, so a
new form route is covered without touching this file."""

import json

import pytest
import sqlalchemy as sa
from flask import url_for
from wtforms.fields.core import UnboundField

from portal.db import Base
from portal.domain.visits import VisitPolicy, requests, schedule
from portal.models import StaffRole
from portal.web.forms import Form
from tests.conftest import csrf_from
from tests.domain.test_visits import week
from tests.factories import (
    PASSWORD,
    create_group,
    create_service,
    create_staff,
    create_subscriber,
    create_tariff,
)
from tests.web.test_staff_console import StaffAuth

# POST routes that are no portal form, and why.
NOT_FORMS = {
    "payments.notify": "the acquirers' notifications: JSON by design",
    "auth.logout": "the CSRF token ends the session; the push endpoint beside it is read as"
    " text or not at all, and never stops the sign-out",
    "staff.logout": "no fields: the CSRF token alone ends the session",
    "subscribers_staff.reissue_password": "no fields: the CSRF token alone asks for it",
    "team_staff.deactivate": "no fields: the CSRF token alone asks for it",
    "team_staff.reactivate": "no fields: the CSRF token alone asks for it",
    "team_staff.reset_password": "no fields: the CSRF token alone asks for it",
    "team_staff.reset_second_factor": "no fields: the CSRF token alone asks for it",
    "subscribers_staff.view": "no fields: the CSRF token alone opens the view as the subscriber",
    "notifications.read_all": "no fields: the CSRF token alone marks the centre read",
    "notifications.remove_device": "no fields: the CSRF token alone removes the device",
    "visits.cancel": "no fields: the CSRF token alone asks for it",
}
# Posted without signing in: the forms a visitor fills.
ANONYMOUS = {"auth.login", "auth.recover", "auth.language", "staff.login"}
# Posted between the staff's password and their second factor.
STAFF_PENDING = {"staff.code"}
NOT_STRINGS = [0, 1, -1, 2**64, 1.5, True, None, [], ["x"], [1, 2], {}, {"a": "b"}]
# Columns that change by merely being signed in, whatever is posted.
TOUCHED = {"last_seen_at"}


def who_posts(app, endpoint: str) -> str:
    """Who fills the form: a visitor, a subscriber, the staff (the admin for a route
    only the admin opens), or staff half signed in."""
    if endpoint in ANONYMOUS:
        return "anonymous"
    if endpoint in STAFF_PENDING:
        return "staff-pending"
    roles = getattr(app.view_functions[endpoint], "staff_roles", None)
    if roles is None:
        return "subscriber"
    if roles == {StaffRole.DISPATCHER}:
        return "staff-dispatcher"
    return "staff-admin" if roles == {StaffRole.ADMIN} else "staff"


def form_routes(app):
    """Endpoint and rule of every POST route that takes a form."""
    return sorted(
        (rule.endpoint, rule)
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods
        and rule.endpoint not in NOT_FORMS
        and not rule.endpoint.startswith("sandbox_acquirer.")  # the pretend acquirer's site
    )


def field_names() -> set[str]:
    """The fields of every form class of the portal (the CSRF token travels in a header)."""
    names, classes = set(), [Form]
    while classes:
        cls = classes.pop()
        classes += cls.__subclasses__()
        names |= {n for n, v in vars(cls).items() if isinstance(v, UnboundField)}
    return names


def bodies():
    """JSON bodies: every field with one value that is not a string, then mixed ones."""
    names = sorted(field_names())
    for value in NOT_STRINGS:
        yield {name: value for name in names}
    yield {name: [i, None, {"x": i}] for i, name in enumerate(names)}
    yield [1, 2, 3]
    yield None
    yield 12


def snapshot(session) -> dict:
    """Every row of every table, but for what a signed-in request touches anyway."""
    tables = {}
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if c.name not in TOUCHED]
        rows = session.execute(sa.select(*columns).order_by(*table.primary_key.columns))
        tables[table.name] = [tuple(row) for row in rows]
    return tables


def post_bodies(client, path: str, token: str) -> dict:
    answers = {}
    for body in bodies():
        answer = client.post(
            path,
            data=json.dumps(body),
            content_type="application/json",
            headers={"X-CSRFToken": token},
        )
        answers[json.dumps(body)[:60]] = answer.status_code
    return answers


def start_phone_change(client) -> None:
    """A phone change waiting for its code, so that the code's form is reached."""
    with client.application.test_request_context():
        path = url_for("profile.phone")
    token = csrf_from(client.get(path).get_data(as_text=True))
    data = {"password": PASSWORD, "phone": "+7 978 765-43-21", "csrf_token": token}
    assert client.post(path, data=data).status_code == 303


def test_the_form_routes_are_found(app):
    endpoints = {endpoint for endpoint, _ in form_routes(app)}
    assert {"auth.login", "auth.recover", "profile.password", "home.switch_account"} <= endpoints
    # The card's block and unblock (staff), and ending a view (on the subscriber's side:
    # with no view to end, a 404).
    assert {"subscribers_staff.block", "subscribers_staff.unblock", "view_as.end"} <= endpoints
    assert {"login", "password", "account_id", "contract", "phone"} <= field_names()
    groups = {who_posts(app, endpoint) for endpoint in endpoints}
    assert groups == {
        "anonymous",
        "subscriber",
        "staff",
        "staff-admin",
        "staff-dispatcher",
        "staff-pending",
    }


def a_visit(session, account) -> int:
    """A technician visit booked for `account`, so the visit forms are reached."""
    account.district = "Массандра"
    week(session, district="Массандра")
    booking = requests.Booking("other", "", next_window_key(session), "Ялта", "+79781234567")
    return requests.book(session, account, booking, VisitPolicy(), address=None).id


def next_window_key(session) -> str:
    return schedule.bookable(session, "Массандра", VisitPolicy())[0].key


def sign_in_as(client, session, auth, who: str):
    """Sign in as `who`; the page to read the CSRF token from and the ids to post to, by
    the URL's argument name (each names a row that exists, so the form is reached; the
    account's id stands in for the rest)."""
    new = create_subscriber(session, login="bodies")
    ids = {"account_id": new.account.id}
    if who in ("subscriber", "staff-dispatcher"):
        ids["visit_id"] = a_visit(session, new.account)
    member = None
    if who.startswith("staff"):
        role = {"staff": StaffRole.OPERATOR, "staff-dispatcher": StaffRole.DISPATCHER}.get(
            who, StaffRole.ADMIN
        )
        member = create_staff(session, role=role)
    if who == "staff-admin":
        group = create_group(session)
        ids |= {
            "staff_id": create_staff(session).id,
            "group_id": group.id,
            "tariff_id": create_tariff(session, group=group).id,
            "addon_id": create_service(session).id,
        }
    session.commit()
    if who == "subscriber":
        auth.login("bodies", PASSWORD)
        start_phone_change(client)
        return "/", ids
    if member is not None:
        # The admin finishes the second step, unless the form tried is the second step.
        StaffAuth(client).login(member.login, member=None if who == "staff-pending" else member)
        return ("/staff/login/code" if who == "staff-pending" else "/staff/"), ids
    return "/login", ids


@pytest.mark.parametrize(
    "who", ["anonymous", "subscriber", "staff", "staff-admin", "staff-dispatcher", "staff-pending"]
)
def test_json_bodies_are_4xx_and_change_nothing(client, session, auth, who):
    page, ids = sign_in_as(client, session, auth, who)
    token = csrf_from(client.get(page).get_data(as_text=True))
    app = client.application
    routes = [
        (endpoint, rule.build({n: ids.get(n, ids["account_id"]) for n in rule.arguments})[1])
        for endpoint, rule in form_routes(app)
        if who_posts(app, endpoint) == who or endpoint == "auth.language"
    ]
    assert routes
    before = snapshot(session)
    wrong = {}
    for endpoint, path in routes:
        answers = post_bodies(client, path, token)
        wrong |= {(endpoint, b): s for b, s in answers.items() if not 400 <= s < 500}
    assert not wrong
    session.expire_all()
    assert snapshot(session) == before
