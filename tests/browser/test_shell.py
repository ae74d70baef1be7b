"""The installable app shell: the service worker, installability, offline mode, the
install button, and what sign-out leaves behind."""

import json
import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.helpers import (
    cached_urls,
    phone_only,
    sign_in,
    sign_out,
)
from tools.browser import PHONE, wait_for_service_worker

pytestmark = pytest.mark.browser

SUMMARY_KEY = "portal:summary"


def shell_cache(page: Page) -> list[str]:
    caches = cached_urls(page)
    names = [name for name in caches if name.startswith("shell-")]
    assert len(names) == 1, caches
    return caches[names[0]]


@phone_only
def test_service_worker_installs_activates_and_keeps_only_the_shell(page: Page, demo):
    sign_in(page, demo)
    wait_for_service_worker(page)
    kept = shell_cache(page)
    assert "/offline" in kept
    for static in ("portal.css", "htmx-2.0.11.min.js", "portal.js", "icon-192.png"):
        assert any(static in url and "?v=" in url for url in kept), (static, kept)
    # Nothing personal: no page but the offline one, never the sign-in page.
    pages = [url for url in kept if not re.search(r"\?v=", url)]
    assert pages == ["/offline"]
    # Visiting pages adds nothing to the cache.
    page.goto("/history/")
    page.goto("/")
    assert sorted(shell_cache(page)) == sorted(kept)


@phone_only
def test_a_new_worker_deletes_every_other_cache_on_activation(page: Page):
    # What an earlier release (or anything else) left behind, there before the worker.
    page.add_init_script(
        "caches.open('shell-previous').then((c) => c.put('/old', new Response('old')))"
    )
    page.goto("/login")
    wait_for_service_worker(page)
    names = list(cached_urls(page))
    assert len(names) == 1 and names[0].startswith("shell-"), names
    assert names[0] != "shell-previous"


def test_chromium_reports_the_app_installable(
    browser_type, browser_type_launch_args, demo, tmp_path
):
    # Installability is only reported outside incognito, hence a persistent profile.
    context = browser_type.launch_persistent_context(
        tmp_path / "profile",
        base_url=demo.url,
        locale="ru-RU",
        **browser_type_launch_args,
        **PHONE,
    )
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto("/login")
        wait_for_service_worker(page)
        cdp = context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [], manifest["errors"]
        parsed = json.loads(manifest["data"])
        assert parsed["display"] == "standalone" and parsed["lang"] == "ru"
        assert [s["url"] for s in parsed["shortcuts"]] == ["/pay/", "/history/", "/visits/"]
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert errors == [], errors
    finally:
        context.close()


@phone_only
def test_offline_the_app_opens_with_the_last_known_balance(
    page: Page, context: BrowserContext, demo
):
    sign_in(page, demo)
    balance = page.locator("#balance").inner_text()
    days_left = page.locator("#days-left").inner_text()
    wait_for_service_worker(page)
    saved = json.loads(page.evaluate(f"localStorage.getItem('{SUMMARY_KEY}')"))
    assert saved["balance"] == balance and saved["readAt"]

    context.set_offline(True)
    page.goto("/?source=pwa")  # as the home-screen icon opens it
    expect(page.locator("#offline-title")).to_be_visible()
    expect(page.locator("#last-balance")).to_have_text(balance)
    expect(page.locator("#last-days-left")).to_have_text(days_left)
    expect(page.locator("#last-read-at")).to_contain_text("Данные на")
    expect(page.locator("#last-read-at")).to_contain_text("100001")
    expect(page.locator("#offline-banner")).to_be_visible()
    expect(page.get_by_role("button", name="Оплатить")).to_be_disabled()
    # The styles and scripts came from the worker: the page is drawn, not bare HTML.
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex"

    page.reload()
    expect(page.locator("#last-balance")).to_have_text(balance)

    # The connection comes back: the page asked for opens by itself.
    context.set_offline(False)
    expect(page.locator("#balance")).to_have_text(balance)
    expect(page).to_have_url(re.compile(r"/\?source=pwa$"))


@phone_only
def test_actions_switch_off_while_offline_and_come_back_by_themselves(
    page: Page, context: BrowserContext, demo
):
    sign_in(page, demo)
    wait_for_service_worker(page)
    pay = page.locator(".balance-card a.button")
    section = page.locator(".bottom-nav a").first
    sign_out_button = page.locator("form[data-sign-out] button")

    context.set_offline(True)
    expect(page.locator("#offline-banner")).to_be_visible()
    expect(pay).to_have_attribute("aria-disabled", "true")
    expect(section).to_have_attribute("aria-disabled", "true")
    expect(sign_out_button).to_be_disabled()
    expect(page.locator("#balance-read-at")).to_contain_text("Данные на")
    pay.click(force=True)  # switched off: nothing happens, the page stays
    expect(page).to_have_url(demo.url + "/")
    # The support phone needs no internet.
    expect(page.locator(".support-call")).not_to_have_attribute("aria-disabled", "true")

    context.set_offline(False)
    expect(page.locator("#offline-banner")).to_be_hidden()
    expect(pay).not_to_have_attribute("aria-disabled", "true")
    expect(sign_out_button).to_be_enabled()
    pay.click()
    page.wait_for_url(re.compile(re.escape(demo.url) + r"/pay/(\?amount=\d+)?$"))


@phone_only
def test_sign_out_forgets_personal_data_and_keeps_the_public_shell(page: Page, demo):
    sign_in(page, demo)
    wait_for_service_worker(page)
    assert page.evaluate(f"localStorage.getItem('{SUMMARY_KEY}')")
    shell_before = shell_cache(page)

    with page.expect_response(lambda r: r.url.endswith("/logout")) as answer:
        sign_out(page, demo)
    assert answer.value.all_headers()["clear-site-data"] == '"cache"'
    assert page.evaluate(f"localStorage.getItem('{SUMMARY_KEY}')") is None
    # Only the public shell is left, and the worker stays, so the app still opens offline.
    assert sorted(shell_cache(page)) == sorted(shell_before)
    assert page.evaluate("navigator.serviceWorker.getRegistration().then((r) => !!r.active)")


@phone_only
def test_a_session_that_ended_forgets_personal_data_at_the_next_tap(page: Page, demo):
    # The session ends on the server (idle too long, signed out elsewhere) while the
    # home page stays open; the next tap on a section lands on the sign-in page, which
    # must be a page of a signed-out visitor: nothing of the last person kept for the
    # next one to see offline, and the new page's own session token.
    sign_in(page, demo)
    assert page.evaluate(f"localStorage.getItem('{SUMMARY_KEY}')")
    for cookie in ("portal_session", "portal_remember"):
        page.context.clear_cookies(name=cookie)
    page.locator(".bottom-nav a[href='/history/']").click()
    page.wait_for_url(demo.url + "/login?next=/history/")
    expect(page.locator("#login-form")).to_be_visible()
    assert page.evaluate("document.body.dataset.signedIn") == "no"
    assert page.evaluate(f"localStorage.getItem('{SUMMARY_KEY}')") is None


@phone_only
def test_install_button_appears_when_the_browser_offers_installation(page: Page):
    page.goto("/login")
    expect(page.locator("#install")).to_be_hidden()
    # What Chromium fires when the site is installable, with a prompt we can watch.
    page.evaluate(
        """() => {
          const offer = new Event("beforeinstallprompt", { cancelable: true });
          offer.prompt = () => { window.promptShown = true; return Promise.resolve(); };
          offer.userChoice = Promise.resolve({ outcome: "accepted" });
          window.dispatchEvent(offer);
        }"""
    )
    button = page.get_by_role("button", name="Установить приложение")
    expect(button).to_be_visible()
    expect(page.locator("#install-ios")).to_be_hidden()
    button.click()
    assert page.evaluate("window.promptShown === true")
    expect(page.locator("#install")).to_be_hidden()


IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def test_iphone_gets_the_add_to_home_screen_steps(new_context, demo):
    page = new_context(**PHONE, user_agent=IPHONE_SAFARI).new_page()
    page.goto("/login")
    expect(page.locator("#install-ios")).to_be_visible()
    expect(page.locator("#install-ios")).to_contain_text("«Поделиться»")
    expect(page.locator("#install-button")).to_be_hidden()
    sign_in(page, demo)
    expect(page.locator("#install-ios")).to_be_visible()


def a_new_release(route) -> None:
    """The server's answer as after a deploy: the same page naming a new stylesheet."""
    response = route.fetch()
    body = response.text().replace("portal.css?v=", "portal.css?v=new")
    route.fulfill(response=response, body=body)


@phone_only
def test_after_a_deploy_the_next_tap_loads_the_new_release_whole(page: Page, demo):
    # The installed app stays open on the phone for days; a tap swaps the next page's
    # body into the page already open (hx-boost), whose head still holds the stylesheet
    # and scripts of the release it was opened with. Once the server is on a new
    # release, that page must be loaded whole, not new markup under old styles.
    sign_in(page, demo)
    wait_for_service_worker(page)
    page.evaluate("window.openedBefore = true")
    page.locator(".bottom-nav a[href='/history/']").click()
    page.wait_for_url(demo.url + "/history/")
    assert page.evaluate("window.openedBefore"), "a tap within one release stays a swap"

    page.route(
        "**/*",
        lambda route: (
            a_new_release(route) if route.request.headers.get("hx-boosted") else route.fallback()
        ),
    )
    page.locator(".bottom-nav a[href='/tariffs/']").click()
    page.wait_for_url(demo.url + "/tariffs/")
    expect(page.locator(".bottom-nav a[aria-current=page]")).to_have_attribute("href", "/tariffs/")
    assert page.evaluate("window.openedBefore") is None
    # Loaded whole, the page names the stylesheet the server serves now (the one the
    # route did not touch: a full page load is not a boosted request).
    stylesheet = page.locator("link[href*='portal.css']").get_attribute("href")
    assert "?v=new" not in stylesheet


@phone_only
def test_sign_out_with_the_server_out_of_reach_keeps_the_page_and_says_why(page: Page, demo):
    # A phone on a flaky network: some network is there (navigator.onLine), our server
    # does not answer. The tap must not leave the app for the browser's error page,
    # with the person still signed in.
    sign_in(page, demo)
    wait_for_service_worker(page)
    page.route(re.compile(r".*/(ping|logout)$"), lambda route: route.abort("connectionrefused"))
    page.locator("form[data-sign-out] button").click()
    expect(page.locator("#offline-banner")).to_be_visible()
    expect(page.locator("form[data-sign-out] button")).to_be_disabled()
    expect(page).to_have_url(demo.url + "/")
    expect(page.locator("#balance")).to_be_visible()

    # The server answers again: the probe finds it, and signing out works.
    page.unroute(re.compile(r".*/(ping|logout)$"))
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("form[data-sign-out] button")).to_be_enabled()
    sign_out(page, demo)
    assert page.evaluate("document.body.dataset.signedIn") == "no"


NGINX_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body>"
    "<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


@phone_only
def test_a_gateway_error_page_is_not_swapped_in_the_page_says_the_server_is_out_of_reach(
    page: Page, demo
):
    # While the app restarts (a deploy), nginx answers a tap itself with its own page:
    # not the portal's, not to be drawn in place of the open one.
    sign_in(page, demo)
    page.route(
        "**/history/",
        lambda route: route.fulfill(status=502, content_type="text/html", body=NGINX_502),
    )
    page.locator(".bottom-nav a[href='/history/']").click()
    expect(page.locator("#offline-banner")).to_be_visible()
    expect(page.get_by_text("502 Bad Gateway")).to_have_count(0)
    expect(page).to_have_url(demo.url + "/")
    expect(page.locator("#balance")).to_be_visible()

    page.unroute("**/history/")
    page.evaluate("window.dispatchEvent(new Event('online'))")  # the probe, now
    expect(page.locator("#offline-banner")).to_be_hidden()
