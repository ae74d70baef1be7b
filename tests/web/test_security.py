"""Headers, fragments and error pages that every answer must get right."""

import json

import pytest

from portal.htmx import trigger
from tests.factories import PASSWORD, create_subscriber


def test_strict_csp_and_companions_on_every_page(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_pages_carry_no_inline_script_or_style(client, auth, session):
    create_subscriber(session, login="csp1")
    session.commit()
    auth.login("csp1", PASSWORD)
    for path in ["/", "/login", "/history/", "/tariffs/", "/offline"]:
        html = client.get(path).get_data(as_text=True)
        assert "<script>" not in html and " style=" not in html and "<style" not in html
        assert " onclick=" not in html and "hx-on" not in html


def test_personal_pages_are_not_stored(client, auth, session):
    create_subscriber(session, login="nostore")
    session.commit()
    auth.login("nostore", PASSWORD)
    assert client.get("/").headers["Cache-Control"] == "no-store"
    assert client.get("/login").headers["Cache-Control"] == "no-store"


def test_fingerprinted_static_files_are_cached_for_good(client):
    html = client.get("/login").get_data(as_text=True)
    css = html.split('href="/static/css/portal.css?v=')[1].split('"')[0]
    with client.get(f"/static/css/portal.css?v={css}") as response:
        assert response.status_code == 200
        assert "immutable" in response.headers["Cache-Control"]


def test_session_cookie_flags(client, auth, session):
    create_subscriber(session, login="flags")
    session.commit()
    response = auth.login("flags", PASSWORD, remember=True)
    cookies = response.headers.getlist("Set-Cookie")
    for name in ("portal_session", "portal_remember"):
        cookie = next(c for c in cookies if c.startswith(name + "="))
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookies_by_default_in_production(migrated_app):
    from portal import config

    defaults = config.default_config("/tmp/x")
    assert defaults["PORTAL_MODE"] == "production"
    assert defaults["SESSION_COOKIE_SECURE"] and defaults["REMEMBER_COOKIE_SECURE"]


def test_htmx_gets_the_block_and_pages_vary_on_it(client):
    full = client.get("/login")
    fragment = client.get("/login", headers={"HX-Request": "true"})
    boosted = client.get("/login", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in full.get_data(as_text=True)
    assert "<html" not in fragment.get_data(as_text=True)
    assert 'id="login-form"' in fragment.get_data(as_text=True)
    assert "<html" in boosted.get_data(as_text=True)
    assert "HX-Request" in full.headers["Vary"]


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_an_unexpected_error_shows_no_stack_trace(migrated_app, tmp_path):
    from tests.conftest import make_test_app

    app = make_test_app(migrated_app.config["DATABASE_URL"], tmp_path, TESTING=False)

    @app.route("/boom-test")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom-test", headers={"Accept-Language": "en"})
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "secret internals" not in body and "Traceback" not in body
    assert "Something went wrong on our side" in body


def test_too_large_body_is_413(client):
    response = client.post("/login", data={"login": "x" * 70_000, "password": "y"})
    assert response.status_code == 413


def test_hx_trigger_merges_events():
    from flask import Response

    response = trigger(trigger(Response(), "balanceChanged", 5), "toast", "Готово")
    header = response.headers["HX-Trigger"]
    assert json.loads(header) == {"balanceChanged": 5, "toast": "Готово"}
    assert header.isascii()  # headers travel as Latin-1: Cyrillic is escaped


@pytest.mark.parametrize("path", ["/manifest.json", "/sw.js", "/brand.css", "/offline"])
def test_shell_files_are_served(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"


def test_manifest_takes_the_branding(migrated_app, tmp_path):
    from tests.conftest import make_test_app

    app = make_test_app(
        migrated_app.config["DATABASE_URL"],
        tmp_path,
        PORTAL_PROVIDER_NAME="Test Net",
        PORTAL_BRAND_COLOR="#123456",
    )
    data = app.test_client().get("/manifest.json").get_json()
    assert data["name"] == "Test Net" and data["theme_color"] == "#123456"
    assert data["display"] == "standalone" and data["lang"] == "ru"
    assert all(icon["src"].startswith("/static/icons/") for icon in data["icons"])
    css = app.test_client().get("/brand.css").get_data(as_text=True)
    assert "--brand:#123456" in css


@pytest.mark.parametrize("path", ["/static/css/gone.css?v=0123456789ab", "/static/css/gone.css"])
def test_an_error_at_a_static_url_is_never_stored(client, auth, session, path):
    # The error page is drawn in the signed-in person's frame (their session token, the
    # sign-out form): a "public, immutable" or unmarked 404 at a file's URL would let a
    # shared cache hand it to someone else, and keep a file missing for a year.
    create_subscriber(session, login="gone1")
    session.commit()
    auth.login("gone1", PASSWORD)
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"


def test_every_page_lets_the_pay_form_go_on_to_the_acquirer(
    client, auth, session, app, monkeypatch
):
    # A tap on "Pay" swaps the Pay page into the page already open (hx-boost), and the
    # browser keeps that first page's policy: unless every page allows the acquirer's
    # origin in form-action, the form's redirect to the payment page is blocked.
    monkeypatch.setitem(app.config, "PORTAL_PAYMENT_PROVIDER", "yookassa")
    create_subscriber(session, login="csp2")
    session.commit()
    auth.login("csp2", PASSWORD)
    for path in ["/", "/history/", "/login", "/no/such/page"]:
        csp = client.get(path).headers["Content-Security-Policy"]
        assert "form-action 'self' https://yoomoney.ru " in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_a_file_under_a_fingerprint_not_its_own_is_not_kept_for_good(client):
    # While a new release rolls out, a page of the new one may ask a process of the old
    # one for a file by its new fingerprint: what it gets must not be kept for a year
    # (nor by the service worker) under that name.
    with client.get("/static/css/portal.css?v=000000000000") as response:
        assert response.status_code == 200
        assert "immutable" not in response.headers["Cache-Control"]
