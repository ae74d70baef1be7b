"""Web push in the browser: the prompt (never on the first load; in the profile), turning
push on, the devices list, and a push message delivered to the service worker (CDP
ServiceWorker.deliverPushMessage, as a push service would) shown, then clicked.

What headless Chromium here allows (see the recipe browser-push-audits): its own
PushManager.subscribe() is refused in a Playwright (incognito) context, so one test checks
the page says so, and another injects a subscription in its place (a stub of
PushManager.subscribe with real keys) to follow the rest: the page posts it, the server
stores it, the device is listed and removed. The way through a push service is tested in
tests/domain/test_push.py against a local one. The click on a notification: no CDP call
clicks one, so the test dispatches a notificationclick in the worker itself; an untrusted
event has no click activation, so that test covers taking an open window to the
notification's page, not opening a new window (clients.openWindow needs the real click).

Signing out on a shared phone: the page ends the browser's subscription and the server
forgets the device; the next person to sign in is not told push is on. With the stubbed
PushManager the tests show that the page calls unsubscribe() and sends the endpoint; that
the push service then drops it (and answers 410) is the browser's and the service's part,
and the 410 handling is tested in tests/domain/test_push.py."""

import base64
import json
import os
import re
import uuid
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.helpers import phone_only, sign_in, sign_out
from tools.browser import wait_for_service_worker

pytestmark = pytest.mark.browser

# A demo subscriber the other journeys leave alone (portal/demo.py); the recovery
# journey changes the password of "petrov", and "sidorova" pays in her own journey.
NEXT_PERSON = "sidorova"


def registration_id(context: BrowserContext, page: Page) -> tuple[str, object]:
    cdp = context.new_cdp_session(page)
    found = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: found.extend(r for r in event["registrations"] if not r["isDeleted"]),
    )
    cdp.send("ServiceWorker.enable")
    while not found:  # the event follows enable at once; wait for it, not for a time
        page.wait_for_timeout(50)
    return found[0]["registrationId"], cdp


def shown_notifications(page: Page, seconds: int = 15) -> list[dict]:
    """What the service worker shows, once it shows something (asked again every 50 ms:
    the push event runs in the worker, on its own time)."""
    script = """navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((list) =>
        list.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data})))"""
    for _ in range(seconds * 20):
        shown = page.evaluate(script)
        if shown:
            return shown
        page.wait_for_timeout(50)
    return []


@phone_only
def test_a_push_message_shows_the_notification(context: BrowserContext, page: Page, demo):
    context.grant_permissions(["notifications"])
    sign_in(page, demo)
    wait_for_service_worker(page)
    origin = page.evaluate("location.origin")
    registration, cdp = registration_id(context, page)
    message = {
        "title": "Платёж зачислен",
        "body": "500,00 ₽ зачислено",
        "url": "/notifications/1/open",
        "tag": "n1",
        "icon": "/static/icons/icon-192.png",
    }
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": origin, "registrationId": registration, "data": json.dumps(message)},
    )
    assert shown_notifications(page) == [
        {
            "title": "Платёж зачислен",
            "body": "500,00 ₽ зачислено",
            "tag": "n1",
            "data": {"url": "/notifications/1/open"},
        }
    ]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def worker_of(context: BrowserContext):
    return (
        context.service_workers[0]
        if context.service_workers
        else context.wait_for_event("serviceworker")
    )


@phone_only
def test_the_prompt_is_not_on_the_first_load_and_is_in_the_profile(
    context: BrowserContext, page: Page, demo
):
    sign_in(page, demo)
    wait_for_service_worker(page)
    assert page.locator("#push").count() == 0
    assert page.evaluate("Notification.permission") == "default"  # nothing asked by itself
    page.goto("/profile/")
    expect(page.locator("#push")).to_be_visible()
    expect(page.locator("#push-on")).to_be_visible()
    expect(page.locator("#push-ios")).to_be_hidden()
    assert page.evaluate("Notification.permission") == "default"


@phone_only
def test_chromium_here_refuses_its_own_subscription_and_the_page_says_so(
    context: BrowserContext, page: Page, demo
):
    context.grant_permissions(["notifications"])
    sign_in(page, demo)
    page.goto("/profile/")
    page.click("#push-on")
    expect(page.locator("#push-state")).to_have_text(
        "Не удалось включить уведомления. Попробуйте позже."
    )


# Where the stub keeps its subscription, so that it outlives a page as a browser's does.
STUB_KEY = "test:push-subscription"


def stub_push_manager(context: BrowserContext) -> None:
    """In place of the push service Chromium cannot reach here: subscribe() answers with a
    subscription of the test's own (kept in the origin's storage, as the browser keeps
    its own across pages), unsubscribe() drops it; everything else is the page's code."""
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )
    subscription = {
        "endpoint": f"https://push.example.com/send/{uuid.uuid4().hex}",
        "expirationTime": None,
        "keys": {"p256dh": b64(point), "auth": b64(os.urandom(16))},
    }
    context.add_init_script(
        f"const pushSubscriptionJson = {json.dumps(subscription)};"
        f"const stubKey = {json.dumps(STUB_KEY)};"
        + """
        (() => {
          const json = pushSubscriptionJson;
          const made = { endpoint: json.endpoint, toJSON: () => json,
                         unsubscribe: async () => (localStorage.removeItem(stubKey), true) };
          PushManager.prototype.subscribe = async () => {
            localStorage.setItem(stubKey, "1");
            return made;
          };
          PushManager.prototype.getSubscription = async () =>
            localStorage.getItem(stubKey) ? made : null;
        })();"""
    )


def browser_subscription(page: Page) -> bool:
    """Whether the browser holds a push subscription for the site (asked as pages do)."""
    return page.evaluate(
        """navigator.serviceWorker.ready
             .then((r) => r.pushManager.getSubscription()).then((s) => s !== null)"""
    )


def devices_listed(page: Page) -> int:
    page.goto("/notifications/settings")
    return page.locator("form.device").count()


def turn_push_on(page: Page) -> None:
    page.goto("/profile/")
    page.click("#push-on")
    expect(page.locator("#push-state")).to_have_text("Уведомления на этом устройстве включены.")


@phone_only
def test_a_subscription_is_stored_listed_and_removed(context: BrowserContext, page: Page, demo):
    stub_push_manager(context)
    context.grant_permissions(["notifications"])
    sign_in(page, demo)
    turn_push_on(page)
    expect(page.locator("#push-off")).to_be_visible()

    page.goto("/notifications/settings")
    device = page.locator("form.device").filter(has=page.locator("strong", has_text="Chrome"))
    expect(device).to_have_count(1)
    expect(device).to_contain_text("Добавлено")
    device.locator("button").click()
    page.wait_for_url(re.compile(r".*/notifications/settings$"))
    expect(page.locator("form.device").filter(has_text="Chrome")).to_have_count(0)


@phone_only
def test_a_click_on_the_notification_takes_the_open_window_to_its_page(
    context: BrowserContext, page: Page, demo
):
    context.grant_permissions(["notifications"])
    sign_in(page, demo)
    wait_for_service_worker(page)
    page.goto("/history/")
    origin = page.evaluate("location.origin")
    registration, cdp = registration_id(context, page)
    message = {"title": "Мастер придёт завтра", "body": "С 10 до 12", "url": "/profile/"}
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": origin, "registrationId": registration, "data": json.dumps(message)},
    )
    worker = worker_of(context)
    worker.evaluate(
        """async () => {
          let shown = [];
          while (!shown.length) shown = await self.registration.getNotifications();
          self.dispatchEvent(new NotificationEvent("notificationclick", {notification: shown[0]}));
        }"""
    )
    page.wait_for_url(demo.url + "/profile/")
    assert worker.evaluate("self.registration.getNotifications().then((l) => l.length)") == 0


@phone_only
def test_signing_out_ends_this_browsers_push_and_the_server_forgets_the_device(
    context: BrowserContext, page: Page, demo
):
    stub_push_manager(context)
    context.grant_permissions(["notifications"])
    sign_in(page, demo)
    wait_for_service_worker(page)
    before = devices_listed(page)  # other journeys sign in as the same subscriber
    turn_push_on(page)
    assert devices_listed(page) == before + 1

    sign_out(page, demo)
    assert not browser_subscription(page)  # the page asked the browser to drop it
    sign_in(page, demo)
    assert devices_listed(page) == before  # and told the server which device it was


@phone_only
def test_the_next_person_on_the_phone_is_not_told_push_is_on(
    context: BrowserContext, page: Page, demo
):
    stub_push_manager(context)
    context.grant_permissions(["notifications"])
    sign_in(page, demo)
    wait_for_service_worker(page)
    before = devices_listed(page)
    turn_push_on(page)
    # The first person's session runs out (or they signed out with no script): the
    # browser still holds their subscription when the next person signs in.
    context.clear_cookies()
    sign_in(page, replace(demo, login=NEXT_PERSON))
    assert browser_subscription(page)
    page.goto("/profile/")
    expect(page.locator("#push-on")).to_be_visible()
    expect(page.locator("#push-off")).to_be_hidden()
    assert devices_listed(page) == 0

    # Their sign-out ends the browser's subscription too (the push service drops it), but
    # the server forgets only a device of their own: the first person's row waits for the
    # push service's 410.
    sign_out(page, demo)
    assert not browser_subscription(page)
    sign_in(page, demo)
    assert devices_listed(page) == before + 1
    page.locator("form.device button").first.click()  # the newest: leave the list as found
    page.wait_for_url(re.compile(r".*/notifications/settings$"))
    expect(page.locator("form.device")).to_have_count(before)
