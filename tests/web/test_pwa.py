"""The app shell as the server serves it: the manifest, the service worker's precache and
version, the offline page, and the headers that keep personal data out of caches."""

import json
import re

import pytest

from portal.web import filters
from tests.factories import PASSWORD, create_subscriber


def shell_of(client, **headers) -> dict:
    """The SHELL object that /sw.js carries: version, offline page, precache list."""
    source = client.get("/sw.js", headers=headers).get_data(as_text=True)
    found = re.search(r"/\* shell \*/ (\{.*?\}) /\* shell \*/", source)
    assert found, "sw.js carries no shell"
    return json.loads(found.group(1))


def signed_in(client, auth, session, login: str):
    create_subscriber(session, login=login, contract=login[-6:].rjust(6, "7"))
    session.commit()
    assert auth.login(login, PASSWORD).status_code == 303


# --- the manifest ----------------------------------------------------------------------


def test_manifest_has_shortcuts_icons_and_opens_at_home(client):
    data = client.get("/manifest.json").get_json()
    assert data["display"] == "standalone"
    assert data["id"] == "/" and data["scope"] == "/"
    assert data["start_url"] == "/?source=pwa"
    sizes = {(icon["sizes"], icon["purpose"]) for icon in data["icons"]}
    assert sizes == {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")}
    assert all("?v=" in icon["src"] for icon in data["icons"])
    shortcuts = {s["url"]: s["name"] for s in data["shortcuts"]}
    assert shortcuts == {"/pay/": "Оплатить", "/history/": "История", "/visits/": "Вызвать мастера"}


def test_manifest_speaks_the_readers_language(client):
    data = client.get("/manifest.json", headers={"Accept-Language": "en"}).get_json()
    assert data["lang"] == "en"
    assert [s["name"] for s in data["shortcuts"]] == ["Pay", "History", "Call a technician"]


def test_pages_link_the_fingerprinted_manifest_and_it_is_kept_for_good(client):
    html = client.get("/login").get_data(as_text=True)
    url = re.search(r'<link rel="manifest" href="([^"]+)"', html).group(1)
    assert re.fullmatch(r"/manifest\.json\?v=[0-9a-f]{12}", url)
    assert "immutable" in client.get(url).headers["Cache-Control"]


# --- the service worker ----------------------------------------------------------------


def test_service_worker_precaches_the_shell_and_nothing_personal(client):
    response = client.get("/sw.js")
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    shell = shell_of(client)
    assert shell["offline"] == "/offline"
    paths = [url.split("?")[0] for url in shell["precache"]]
    assert "/offline" in paths and "/brand.css" in paths and "/manifest.json" in paths
    for static in ("portal.css", "htmx-2.0.11.min.js", "portal.js", "logo.svg", "icon-192.png"):
        assert any(url.endswith(static) for url in paths), static
    # Every file is fingerprinted but the offline page; no other page is ever kept.
    unversioned = [url for url in shell["precache"] if "?v=" not in url]
    assert unversioned == ["/offline"]


def test_a_changed_file_is_a_new_release_with_a_new_cache_name(client, monkeypatch):
    before = shell_of(client)
    monkeypatch.setattr(filters, "_fingerprint", lambda path: "0123456789ab")
    after = shell_of(client)
    assert after["version"] != before["version"]
    assert all("v=0123456789ab" in url for url in after["precache"] if "/static/" in url)


def test_the_same_release_keeps_its_cache_name(client):
    assert shell_of(client)["version"] == shell_of(client)["version"]


def test_another_language_is_another_shell(client):
    """The offline page and the manifest are drawn in the reader's language, so a change
    of language installs a new worker that keeps them in the new one."""
    russian = shell_of(client)
    english = shell_of(client, **{"Accept-Language": "en"})
    assert russian["version"] != english["version"]


def test_service_worker_template_is_valid_as_it_stands():
    """sw.js at the top of the repository runs by itself too (a default shell)."""
    from portal.web.pwa.shell import SHELL_MARK, shell_file

    source = shell_file("sw.js")
    assert source.count(SHELL_MARK) == 2
    json.loads(source.split(SHELL_MARK)[1])


# --- the offline page ------------------------------------------------------------------


def test_offline_page_holds_nothing_personal_even_when_signed_in(client, auth, session):
    signed_in(client, auth, session, "offline1")
    html = client.get("/offline").get_data(as_text=True)
    assert "csrf_token" not in html and "X-CSRFToken" not in html
    assert "/logout" not in html and "bottom-nav" not in html
    assert 'data-shell="offline"' in html
    assert 'id="last-known"' in html  # filled in on the device, from the device's copy


def test_home_page_carries_the_figures_kept_for_offline_use(client, auth, session, frozen_clock):
    signed_in(client, auth, session, "summary1")
    html = client.get("/").get_data(as_text=True)
    card = re.search(r"<section[^>]*data-summary[^>]*>", html, re.S).group(0)
    assert 'data-read-at="2026-11-24T09:00:00+00:00"' in card
    assert 'data-contract="' in card


def test_ping_answers_with_nothing(client):
    response = client.get("/ping")
    assert response.status_code == 204
    assert response.headers["Cache-Control"] == "no-store"


# --- sign-out and caches ---------------------------------------------------------------


def test_sign_out_clears_the_browser_cache_but_not_the_app_shell(client, auth, session):
    signed_in(client, auth, session, "clear1")
    response = auth.logout()
    assert response.status_code == 303
    assert response.headers["Clear-Site-Data"] == '"cache"'


def test_session_changes_are_full_page_loads(client, auth, session):
    """Signing in and out and changing language replace <html> and <body> attributes
    (language, CSRF token), which an htmx swap of the body's content would leave."""
    login = client.get("/login").get_data(as_text=True)
    assert re.search(r'<form id="login-form"[^>]*hx-boost="false"', login)
    assert re.search(r'<form class="lang-switch"[^>]*hx-boost="false"', login)
    signed_in(client, auth, session, "boost1")
    home = client.get("/").get_data(as_text=True)
    assert re.search(r'<form[^>]*action="/logout"[^>]*hx-boost="false"', home)


# --- headers and compression -----------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/sw.js", "/offline", "/manifest.json"])
def test_documents_and_the_worker_keep_the_csp(client, path):
    assert "script-src 'self'" in client.get(path).headers["Content-Security-Policy"]


def test_stylesheets_and_scripts_go_without_document_headers(client):
    html = client.get("/login").get_data(as_text=True)
    for url in re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js)\?v=[^"]+)"', html):
        with client.get(url) as response:
            assert "Content-Security-Policy" not in response.headers, url
            assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_text_is_compressed_for_browsers_that_ask(client):
    html = client.get("/login").get_data(as_text=True)
    css = re.search(r'href="(/static/css/portal\.css\?v=[^"]+)"', html).group(1)
    with client.get(css, headers={"Accept-Encoding": "gzip, br"}) as response:
        assert response.headers["Content-Encoding"] == "br"
    page = client.get("/login", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"


def test_brand_css_is_fingerprinted_and_kept_for_good(client):
    html = client.get("/login").get_data(as_text=True)
    url = re.search(r'href="(/brand\.css\?v=[0-9a-f]{12})"', html).group(1)
    assert "immutable" in client.get(url).headers["Cache-Control"]
