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
    page.wait_for_function(
        "navigator.serviceWorker.ready.then((r) => r.getNotifications())"
        ".then((list) => list.length > 0)"
    )
    shown = page.evaluate(
        """navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((list) =>
             list.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data})))"""
    )
    assert shown == [
        {
            "title": "Платёж зачислен",
            "body": "500,00 ₽ зачислено",
            "tag": "n1",
            "data": {"url": "/notifications/1/open"},
        }
    ]
