"""The subscriber's side of the URL map, walked route by route: each route is public by
the list below (with the reason), or demands a subscriber's session — an anonymous
visitor and a staff member alike are sent to the sign-in page — and every POST route
refuses a request without its CSRF token. A new route is covered without touching this
file, unless it is public, which must be said here.

The staff side's walk (anonymous and subscriber sessions sent to the console's sign-in,
every staff route declaring its roles) is in test_staff_console.py. Routing does not
depend on the database, so these walks run on SQLite only."""

import pytest

from portal.models import StaffRole
from tests.conftest import csrf_from
from tests.factories import PASSWORD, create_staff, create_subscriber
from tests.web.test_staff_console import StaffAuth, concrete_url

# Routes anyone may open, and why.
PUBLIC = {
    "auth.login": "the sign-in form",
    "auth.recover": "password recovery is for those who cannot sign in",
    "auth.recover_sent": "recovery's answer, the same whether the contract matched or not",
    "auth.language": "the language can be chosen before signing in",
    "health.healthz": "the balancer's probe: the process answers",
    "health.readyz": "the balancer's probe: the database and Redis answer",
    "health.metrics_view": "Prometheus: no session, only to PORTAL_METRICS_ALLOW's addresses",
    "payments.notify": "the acquirers' notifications, believed only after the acquirer's API",
    "pwa.brand_css": "the shell: served to the service worker before any sign-in",
    "pwa.manifest": "the shell: the browser reads it to install the app",
    "pwa.offline": "the shell: the page shown with no network",
    "pwa.ping": "the shell: tells the offline page the network is back",
    "pwa.service_worker": "the shell: the service worker itself",
    "sms.outbox": "the demo SMS outbox, a 404 wherever it is not switched on",
    "static": "fingerprinted static files",
}
# The pretend acquirer's site (sandbox mode only) stands for a bank's page: it is public
# there, and is reached only with a payment's unguessable token.
PUBLIC_PREFIXES = ("sandbox_acquirer.",)
# Routes that keep their own guard, what they answer without it, and why.
OWN_GUARD = {
    "view_as.end": (404, "ends a staff member's view as the subscriber: with none, nothing"),
}
# POST routes that take no CSRF token, and why.
NO_CSRF = {
    "payments.notify": "posted by the acquirer's servers, which hold no session",
}
# Uploads check their own token (the global check would read the whole body first), after
# finding their row: with no such row, a 404 (test_promo_pages posts to a real one).
CSRF_AFTER_LOOKUP = {"promos_staff.upload_image"}

pytestmark = pytest.mark.parametrize("migrated_app", ["sqlite"], indirect=True)


def is_public(endpoint: str) -> bool:
    return endpoint in PUBLIC or endpoint.startswith(PUBLIC_PREFIXES)


def subscriber_routes(app):
    """(endpoint, url, method) of every route that is neither public nor the staff's."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if is_public(rule.endpoint) or hasattr(app.view_functions[rule.endpoint], "staff_roles"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, concrete_url(rule), method


def sent_to_sign_in(client, token_page: str) -> list[str]:
    """Every subscriber route, each method, with a valid CSRF token (read afresh each
    time: signing out drops it): the routes that did not answer with the sign-in page."""
    wrong = []
    for endpoint, url, method in subscriber_routes(client.application):
        token = csrf_from(client.get(token_page).get_data(as_text=True))
        answer = client.open(url, method=method, headers={"X-CSRFToken": token})
        location = answer.headers.get("Location", "")
        if endpoint in OWN_GUARD:
            if answer.status_code != OWN_GUARD[endpoint][0]:
                wrong.append(f"{method} {url} ({endpoint}): {answer.status_code}")
        elif answer.status_code not in (302, 303) or not location.startswith("/login"):
            wrong.append(f"{method} {url} ({endpoint}): {answer.status_code} {location}")
    return wrong


def test_the_walk_finds_the_subscriber_routes(app):
    found = {endpoint for endpoint, _, _ in subscriber_routes(app)}
    assert {"home.index", "payments.start", "history.index", "profile.password"} <= found
    assert not found & {"auth.login", "staff.index"}
    assert set(PUBLIC) <= {rule.endpoint for rule in app.url_map.iter_rules()}


def test_an_anonymous_visitor_is_sent_to_the_sign_in(client):
    assert sent_to_sign_in(client, "/login") == []


def test_a_staff_session_never_opens_a_subscriber_page(client, session):
    member = create_staff(session, role=StaffRole.ADMIN)
    session.commit()
    assert StaffAuth(client).login(member.login, member=member).status_code == 303
    assert client.get("/staff/").status_code == 200
    assert sent_to_sign_in(client, "/staff/") == []
    assert client.get("/staff/").status_code == 200  # and the staff session still stands


def post_routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "POST" in rule.methods and rule.endpoint not in NO_CSRF:
            yield rule.endpoint, concrete_url(rule)


def test_every_post_without_its_csrf_token_is_refused(client, session, auth):
    """Signed in on both sides (so no route turns the visitor away before the token is
    looked at), each POST with no token is a 400 and says why."""
    new = create_subscriber(session, login="guarded")
    member = create_staff(session, role=StaffRole.ADMIN)
    session.commit()
    assert auth.login("guarded", PASSWORD).status_code == 303
    assert StaffAuth(client).login(member.login, member=member).status_code == 303
    assert new.account.id and client.get("/").status_code == 200
    wrong = []
    for endpoint, url in post_routes(client.application):
        answer = client.post(url, data={"anything": "1"})
        if answer.status_code != (404 if endpoint in CSRF_AFTER_LOOKUP else 400):
            wrong.append(f"POST {url} ({endpoint}): {answer.status_code}")
    assert wrong == []
    assert len(list(post_routes(client.application))) > 40
