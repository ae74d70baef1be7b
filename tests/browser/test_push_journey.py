"""A push message delivered to the service worker (CDP ServiceWorker.deliverPushMessage,
as a push service would) shows the notification with its text and the page to open.

Headless Chromium here reaches no real push service, so the subscription's way through
the push service is tested in tests/domain/test_push.py against a local one."""

import json

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.helpers import phone_only, sign_in
from tools.browser import wait_for_service_worker

pytestmark = pytest.mark.browser


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
