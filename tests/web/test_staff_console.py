"""The staff console's shell: its own sign-in, cookie and sessions, and the role check
that every staff route declares."""

import pyotp
import pytest
import sqlalchemy as sa
from flask import Blueprint

from portal import clock
from portal.domain import staff
from portal.extensions import db
from portal.models import AuditEvent, StaffRole, StaffSession
from portal.web.staff import access
from portal.web.staff.access import requires_roles
from tests.conftest import csrf_from, make_test_app
from tests.factories import PASSWORD, STAFF_PASSWORD, create_staff, create_subscriber


def staff_routes(app):
    """Every route under /staff/ with its methods (HEAD and OPTIONS left to Flask)."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/staff/") or rule.rule == "/staff":
            yield rule, sorted(rule.methods - {"HEAD", "OPTIONS"})


def concrete_url(rule) -> str:
    """The rule with 1 for every argument (staff routes take row ids)."""
    return rule.build(dict.fromkeys(rule.arguments, 1))[1]


def code_for(secret: str, moment=None) -> str:
    """What the member's authenticator app shows now (or at `moment`)."""
    return pyotp.TOTP(secret).at(moment or clock.now())


class StaffAuth:
    """Sign in to the console through its forms; `member` finishes the second step."""

    def __init__(self, client):
        self.client = client

    def login(self, login, password=STAFF_PASSWORD, address="127.0.0.1", member=None, **data):
        page = self.client.get("/staff/login").get_data(as_text=True)
        form = {"login": login, "password": password, "csrf_token": csrf_from(page), **data}
        answer = self.client.post("/staff/login", data=form, environ_base={"REMOTE_ADDR": address})
        if member is not None and answer.headers.get("Location") == "/staff/login/code":
            return self.code(code_for(member.totp_secret))
        return answer

    def code(self, code, address="127.0.0.1"):
        page = self.client.get("/staff/login/code").get_data(as_text=True)
        form = {"code": code, "csrf_token": csrf_from(page)}
        return self.client.post(
            "/staff/login/code", data=form, environ_base={"REMOTE_ADDR": address}
        )


@pytest.fixture
def staff_auth(client):
    return StaffAuth(client)


def test_every_staff_route_declares_its_roles(app):
    found = list(staff_routes(app))
    assert {rule.rule for rule, _ in found} >= {"/staff/", "/staff/login", "/staff/logout"}
    undeclared = [
        rule.rule
        for rule, _ in found
        if not hasattr(app.view_functions[rule.endpoint], "staff_roles")
    ]
    assert undeclared == [], "staff routes without requires_roles or public"


def _refused_everywhere(app, client, method_headers=None):
    """Each protected staff route, for each method, answers with the staff sign-in."""
    token = csrf_from(client.get("/staff/login").get_data(as_text=True))
    checked = 0
    for rule, methods in staff_routes(app):
        if app.view_functions[rule.endpoint].staff_roles is access.PUBLIC:
            continue
        for method in methods:
            answer = client.open(concrete_url(rule), method=method, headers={"X-CSRFToken": token})
            assert answer.status_code in (302, 303), (rule.rule, method, answer.status_code)
            assert answer.headers["Location"].startswith("/staff/login"), rule.rule
            checked += 1
    return checked


def test_an_anonymous_visitor_is_sent_to_the_staff_sign_in(app, client):
    assert _refused_everywhere(app, client) >= 2


def test_a_subscriber_session_never_opens_a_staff_page(app, client, auth, session):
    new = create_subscriber(session)
    session.commit()
    assert auth.login(new.person.login, PASSWORD).status_code == 303
    assert client.get("/").status_code == 200
    assert _refused_everywhere(app, client) >= 2


WRONG_ROLES = [role for role in StaffRole if role is not StaffRole.ADMIN]


@pytest.mark.parametrize("role", WRONG_ROLES)
def test_each_wrong_role_is_refused_on_every_staff_route(app, client, session, role):
    """The walk over the URL map for a signed-in member: every route and method whose
    declared roles leave the member's out answers 403 (before any lookup: the ids here
    name no row)."""
    member = create_staff(session, role=role)
    session.commit()
    assert StaffAuth(client).login(member.login).status_code == 303
    token = csrf_from(client.get("/staff/").get_data(as_text=True))
    refused = []
    for rule, methods in staff_routes(app):
        roles = app.view_functions[rule.endpoint].staff_roles
        if roles is access.PUBLIC or staff.may(role, roles):
            continue
        for method in methods:
            answer = client.open(concrete_url(rule), method=method, headers={"X-CSRFToken": token})
            assert answer.status_code == 403, (rule.rule, method, answer.status_code)
            refused.append(rule.endpoint)
    # Every role but the admin's is kept out of something, the team at least.
    assert any(endpoint.startswith("team_staff.") for endpoint in refused)
    assert client.get("/staff/").status_code == 200  # still signed in: refusals end nothing


def test_a_staff_session_never_opens_a_subscriber_page(client, staff_auth, session):
    member = create_staff(session)
    session.commit()
    assert staff_auth.login(member.login).status_code == 303
    assert client.get("/staff/").status_code == 200
    answer = client.get("/")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/login")


def test_sign_in_sets_a_strict_cookie_for_the_console_only(client, staff_auth, session):
    member = create_staff(session, role=StaffRole.DISPATCHER)
    session.commit()
    answer = staff_auth.login(member.login)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/staff/"
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("portal_staff="))
    assert "Path=/staff/" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = client.get("/staff/").get_data(as_text=True)
    assert member.name in page
    assert "диспетчер" in page


def test_wrong_password_is_refused_and_audited(client, staff_auth, session):
    member = create_staff(session)
    session.commit()
    answer = staff_auth.login(member.login, "not-the-password")
    assert answer.status_code == 401
    assert "Неверный логин или пароль" in answer.get_data(as_text=True)
    assert not any(c.startswith("portal_staff=") for c in answer.headers.getlist("Set-Cookie"))
    unknown = staff_auth.login("nobody-here", "not-the-password")
    assert unknown.status_code == 401
    assert unknown.get_data().count(b"alert-error") == answer.get_data().count(b"alert-error")
    failed = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "staff.sign_in_failed")
    ).all()
    assert {e.data["login"] for e in failed} >= {member.login, "nobody-here"}


def test_sign_out_ends_the_session_even_for_a_copied_cookie(client, staff_auth, session):
    member = create_staff(session)
    session.commit()
    staff_auth.login(member.login)
    copied = client.get_cookie("portal_staff", path="/staff/").value
    token = csrf_from(client.get("/staff/").get_data(as_text=True))
    answer = client.post("/staff/logout", data={"csrf_token": token})
    assert answer.status_code == 303
    assert client.get("/staff/").status_code == 302
    client.set_cookie("portal_staff", copied, path="/staff/")
    assert client.get("/staff/").status_code == 302
    ended = session.scalars(sa.select(StaffSession).where(StaffSession.staff_id == member.id))
    assert all(s.ended_at is not None for s in ended)


def test_a_deactivated_member_is_signed_out_at_once(client, staff_auth, session):
    member = create_staff(session)
    session.commit()
    staff_auth.login(member.login)
    assert client.get("/staff/").status_code == 200
    member.active = False
    session.commit()
    assert client.get("/staff/").status_code == 302
    assert staff_auth.login(member.login).status_code == 401


def test_failures_from_one_address_never_lock_the_member_out(client, staff_auth, session):
    member = create_staff(session)
    session.commit()
    answers = [staff_auth.login(member.login, "guess", address="203.0.113.7") for _ in range(12)]
    assert answers[-1].status_code == 429
    assert "Слишком много" in answers[-1].get_data(as_text=True)
    assert staff_auth.login(member.login, address="198.51.100.2").status_code == 303


def test_sign_in_follows_only_console_pages(client, staff_auth, session):
    member = create_staff(session)
    session.commit()
    assert staff_auth.login(member.login, next="/history/").headers["Location"] == "/staff/"
    client.delete_cookie("portal_staff", path="/staff/")
    answer = staff_auth.login(member.login, next="//evil.example/staff/")
    assert answer.headers["Location"] == "/staff/"


@pytest.fixture(scope="module")
def role_app(tmp_path_factory):
    """An app on a database of its own with one extra staff route, for dispatchers only."""
    folder = tmp_path_factory.mktemp("roles")
    app = make_test_app(f"sqlite:///{folder / 'roles.db'}", folder)
    extra = Blueprint("staff_probe", __name__, url_prefix="/staff/probe")

    @extra.route("/")
    @requires_roles(StaffRole.DISPATCHER)
    def probe():
        return "dispatchers' page"

    app.register_blueprint(extra)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=app.extensions["migrate"].directory)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("role", list(StaffRole))
def test_a_route_opens_for_its_roles_and_the_admin_only(role_app, role):
    client = role_app.test_client()
    with role_app.app_context():
        member = create_staff(db.session, role=role)
        db.session.commit()
        login = member.login
        db.session.expunge(member)
    assert StaffAuth(client).login(login, member=member).status_code == 303
    answer = client.get("/staff/probe/")
    if role in (StaffRole.DISPATCHER, StaffRole.ADMIN):
        assert answer.status_code == 200
        assert answer.get_data(as_text=True) == "dispatchers' page"
    else:
        assert answer.status_code == 403


def test_the_console_shows_nothing_of_a_subscriber_signed_in_on_the_same_browser(
    client, staff_auth, auth, session
):
    new = create_subscriber(session)
    member = create_staff(session)
    session.commit()
    auth.login(new.person.login, PASSWORD)
    assert 'class="bottom-nav"' in client.get("/").get_data(as_text=True)
    staff_auth.login(member.login)
    page = client.get("/staff/").get_data(as_text=True)
    assert 'class="bottom-nav"' not in page and "/logout" not in page.replace("/staff/logout", "")
    assert 'rel="manifest"' not in page and member.name in page


def test_the_console_speaks_english_when_asked_and_russian_by_default(client, staff_auth, session):
    member = create_staff(session, role=StaffRole.OPERATOR)
    session.commit()
    staff_auth.login(member.login)
    russian = client.get("/staff/").get_data(as_text=True)
    assert 'lang="ru"' in russian and "Выйти" in russian and "Новый абонент" in russian
    token = csrf_from(russian)
    switched = client.post("/language", data={"lang": "en", "next": "/staff/", "csrf_token": token})
    assert switched.status_code == 303 and switched.headers["Location"] == "/staff/"
    english = client.get("/staff/").get_data(as_text=True)
    assert 'lang="en"' in english and "Sign out" in english and "New subscriber" in english
    assert "Open visit requests" in english and "Выйти" not in english
    bad = client.get("/staff/payments/", query_string={"state": "stolen"})
    assert bad.status_code == 400 and "Choose a state from the list." in bad.get_data(as_text=True)
    # A browser that asks for English gets it before any choice.
    fresh = client.application.test_client()
    page = fresh.get("/staff/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Password" in page.get_data(as_text=True)
