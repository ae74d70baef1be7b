"""The notification centre's pages, the push routes (JSON with the CSRF header), the
devices and kinds, the count on the bottom bar, the keys' command and the startup rule."""

import base64
import json
import os
import re

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from portal import config
from portal.domain import notifications
from portal.domain.push import keys, subscriptions
from portal.models import Account, NotificationKind, NotificationPreference, PushSubscription
from tests.conftest import csrf_from
from tests.factories import PASSWORD, create_subscriber, credited_payment
from tests.test_startup import start


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def browser_subscription(endpoint="https://push.example.com/send/one") -> dict:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )
    return {"endpoint": endpoint, "keys": {"p256dh": b64(point), "auth": b64(os.urandom(16))}}


@pytest.fixture
def push_on(app, monkeypatch):
    pair = keys.generate()
    monkeypatch.setitem(app.config, "PORTAL_PUSH_ENABLED", True)
    monkeypatch.setitem(app.config, "PORTAL_VAPID_PRIVATE_KEY", pair["private_key"])
    monkeypatch.setitem(app.config, "PORTAL_VAPID_PUBLIC_KEY", pair["public_key"])
    return pair


@pytest.fixture
def person(session, auth):
    new = create_subscriber(session, login="pushy")
    session.commit()
    auth.login("pushy", PASSWORD)
    return new.person


def token_of(client, path="/notifications/settings") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def post_json(client, path, body, token, **headers):
    return client.post(
        path,
        data=json.dumps(body),
        content_type="application/json",
        headers={"X-CSRFToken": token, **headers} if token else headers,
    )


def devices_of(session, person) -> int:
    """The person's own devices (other tests may leave rows in a shared database)."""
    return session.scalar(
        sa.select(sa.func.count(PushSubscription.id)).where(PushSubscription.person_id == person.id)
    )


def test_subscribing_stores_the_device_with_its_browser(client, session, person, push_on):
    token = token_of(client)
    agent = "Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile Safari/537.36"
    answer = post_json(
        client,
        "/notifications/push/subscribe",
        browser_subscription(),
        token,
        **{"User-Agent": agent},
    )
    assert answer.status_code == 201
    device = session.get(PushSubscription, answer.get_json()["id"])
    assert device.person_id == person.id and device.user_agent == agent
    page = client.get("/notifications/settings").get_data(as_text=True)
    assert "Chrome, Android" in page
    assert f"/notifications/devices/{device.id}/remove" in page


def test_subscribing_without_the_csrf_header_is_refused(client, session, person, push_on):
    client.get("/notifications/settings")
    answer = post_json(client, "/notifications/push/subscribe", browser_subscription(), None)
    assert answer.status_code == 400
    assert devices_of(session, person) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"endpoint": "https://push.example.com/x"},
        {"endpoint": "http://push.example.com/x", "keys": browser_subscription()["keys"]},
        {"endpoint": "https://push.example.com/x", "keys": {"p256dh": "x", "auth": "y"}},
        [1, 2],
        None,
        "text",
        # PostgreSQL cannot store a NUL: a clear 400, not a 500
        browser_subscription("https://push.example.com/send/\x00one"),
        browser_subscription("https://push.exa\x00mple.com/send/one"),
        browser_subscription("https://push.example.com/send/\x07one"),
        # 65 bytes, but no point of the curve: no push could ever be encrypted for it
        {
            "endpoint": "https://push.example.com/send/one",
            "keys": {"p256dh": b64(b"\x04" + b"\x01" * 64), "auth": b64(os.urandom(16))},
        },
    ],
)
def test_a_bad_subscription_is_a_clear_400(client, session, person, push_on, body):
    answer = post_json(client, "/notifications/push/subscribe", body, token_of(client))
    assert answer.status_code == 400
    assert answer.get_json()["error"]
    assert devices_of(session, person) == 0


def test_an_internal_endpoint_is_refused_where_local_is_not_allowed(
    client, session, person, push_on, monkeypatch
):
    monkeypatch.setitem(client.application.config, "PORTAL_PUSH_ALLOW_LOCAL", False)
    body = browser_subscription("https://10.1.2.3/push")
    answer = post_json(client, "/notifications/push/subscribe", body, token_of(client))
    assert answer.status_code == 400
    assert devices_of(session, person) == 0


def test_a_megabyte_body_is_refused_without_a_500(client, session, person, push_on):
    token = token_of(client)
    answer = client.post(
        "/notifications/push/subscribe",
        data=b"{" + b" " * (1024 * 1024) + b"}",
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert answer.status_code == 413
    assert devices_of(session, person) == 0


def test_with_push_off_subscribing_is_refused(client, session, person, monkeypatch):
    monkeypatch.setitem(client.application.config, "PORTAL_PUSH_ENABLED", False)
    answer = post_json(
        client, "/notifications/push/subscribe", browser_subscription(), token_of(client)
    )
    assert answer.status_code == 409
    assert devices_of(session, person) == 0


def test_unsubscribing_forgets_the_device(client, session, person, push_on):
    data = browser_subscription()
    subscriptions.subscribe(session, person.id, data, user_agent="", allow_local=False)
    session.commit()
    token = token_of(client)
    assert post_json(client, "/notifications/push/unsubscribe", {}, token).status_code == 400
    answer = post_json(
        client, "/notifications/push/unsubscribe", {"endpoint": data["endpoint"]}, token
    )
    assert answer.status_code == 204
    assert devices_of(session, person) == 0


@pytest.mark.parametrize("endpoint", ["https://push.example.com/\x00", "https://x/" + "a" * 1001])
def test_unsubscribing_an_endpoint_no_browser_sends_is_a_clear_400(
    client, session, person, push_on, endpoint
):
    data = browser_subscription()
    subscriptions.subscribe(session, person.id, data, user_agent="", allow_local=False)
    session.commit()
    answer = post_json(
        client, "/notifications/push/unsubscribe", {"endpoint": endpoint}, token_of(client)
    )
    assert answer.status_code == 400
    assert answer.get_json()["error"]
    assert devices_of(session, person) == 1


def test_removing_a_device_and_another_persons_is_404(client, session, person, push_on):
    mine = subscriptions.subscribe(
        session, person.id, browser_subscription(), user_agent="", allow_local=False
    )
    other = create_subscriber(session).person
    theirs = subscriptions.subscribe(
        session,
        other.id,
        browser_subscription("https://push.example.com/send/two"),
        user_agent="",
        allow_local=False,
    )
    mine_id, theirs_id = mine.id, theirs.id
    session.commit()
    token = token_of(client)
    answer = client.post(f"/notifications/devices/{theirs_id}/remove", data={"csrf_token": token})
    assert answer.status_code == 404
    answer = client.post(f"/notifications/devices/{mine_id}/remove", data={"csrf_token": token})
    assert answer.status_code == 303
    left = sa.select(PushSubscription.id).where(PushSubscription.id.in_([mine_id, theirs_id]))
    assert session.scalars(left).all() == [theirs_id]


# --- signing out on a shared phone -----------------------------------------------------

MINE, MY_OTHER, THEIRS = (f"https://push.example.com/send/{n}" for n in ("one", "two", "three"))


def with_devices(session, person):
    """The person's two devices and another person's one."""
    other = create_subscriber(session).person
    for owner, endpoint in ((person, MINE), (person, MY_OTHER), (other, THEIRS)):
        data = browser_subscription(endpoint)
        subscriptions.subscribe(session, owner.id, data, user_agent="", allow_local=False)
    session.commit()
    return other


def owners(session) -> list[tuple[str, int]]:
    rows = session.execute(
        sa.select(PushSubscription.endpoint, PushSubscription.person_id)
        .where(PushSubscription.endpoint.in_([MINE, MY_OTHER, THEIRS]))
        .order_by(PushSubscription.endpoint)
        .execution_options(populate_existing=True)
    )
    return [tuple(row) for row in rows]


def sign_out(client, **fields):
    data = {"csrf_token": token_of(client, "/"), **fields}
    answer = client.post("/logout", data=data)
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    assert client.get("/").headers["Location"].startswith("/login")  # signed out indeed


def test_the_sign_out_form_has_a_place_for_this_devices_push_endpoint(client, person):
    home = client.get("/").get_data(as_text=True)
    form = home[home.index("<form", home.index('action="/logout"') - 60) :]
    form = form[: form.index("</form>")]
    assert "data-sign-out" in form
    assert re.search(r'<input type="hidden" name="push_endpoint" value=""', form)


def test_signing_out_with_this_devices_endpoint_forgets_that_device_only(
    client, session, person, push_on
):
    other = with_devices(session, person)
    sign_out(client, push_endpoint=MINE)
    assert owners(session) == [(THEIRS, other.id), (MY_OTHER, person.id)]


@pytest.mark.parametrize("endpoint", [THEIRS, "https://push.example.com/send/none", "a\x00b"])
def test_signing_out_with_an_endpoint_of_no_device_of_ones_own_forgets_nothing(
    client, session, person, push_on, endpoint
):
    other = with_devices(session, person)
    sign_out(client, push_endpoint=endpoint)
    assert owners(session) == [(MINE, person.id), (THEIRS, other.id), (MY_OTHER, person.id)]


def test_signing_out_without_an_endpoint_signs_out_as_before(client, session, person, push_on):
    other = with_devices(session, person)
    sign_out(client)  # no JavaScript: the page could not say which device this is
    assert owners(session) == [(MINE, person.id), (THEIRS, other.id), (MY_OTHER, person.id)]


def test_the_prompt_learns_whether_this_browsers_subscription_is_the_persons(
    client, session, person, push_on
):
    with_devices(session, person)
    token = token_of(client)
    for endpoint, on in ((MINE, True), (THEIRS, False), ("https://push.example.com/x", False)):
        answer = post_json(client, "/notifications/push/state", {"endpoint": endpoint}, token)
        assert (answer.status_code, answer.get_json()) == (200, {"on": on})
    answer = post_json(client, "/notifications/push/state", {"endpoint": 12}, token)
    assert answer.status_code == 400 and answer.get_json()["error"]
    assert post_json(client, "/notifications/push/state", {}, None).status_code == 400  # CSRF


def test_choosing_the_kinds(client, session, person):
    token = token_of(client)
    answer = client.post(
        "/notifications/settings", data={"csrf_token": token, "shown": "1", "payments": "y"}
    )
    assert answer.status_code == 303
    choice = session.get(NotificationPreference, person.id)
    assert (choice.payments, choice.visits, choice.promotions) == (True, False, False)
    page = client.get("/notifications/settings").get_data(as_text=True)
    assert 'id="payments" name="payments" type="checkbox" value="y"' in page.replace(" checked", "")


def test_a_choice_without_the_form_changes_nothing(client, session, person):
    answer = client.post("/notifications/settings", data={"csrf_token": token_of(client)})
    assert answer.status_code == 400
    assert session.get(NotificationPreference, person.id) is None


def test_the_prompt_is_on_the_settings_page_and_not_on_the_home_page(client, person, push_on):
    settings = client.get("/notifications/settings").get_data(as_text=True)
    assert f'data-push-key="{push_on["public_key"]}"' in settings
    assert 'id="push-ios"' in settings
    assert 'id="push"' not in client.get("/").get_data(as_text=True)


def test_without_keys_the_settings_say_push_is_unavailable(client, person, monkeypatch):
    monkeypatch.setitem(client.application.config, "PORTAL_PUSH_ENABLED", False)
    settings = client.get("/notifications/settings").get_data(as_text=True)
    assert 'id="push"' not in settings
    assert "Всё сохраняется в центре уведомлений" in settings


def test_the_centre_lists_counts_and_marks_read(app, client, session, person):
    with app.app_context():
        first = notifications.notify(
            session, person.id, NotificationKind.PAYMENTS, "Платёж зачислен", "500 ₽", "history/"
        )
        notifications.notify(session, person.id, NotificationKind.VISITS, "Техник", "Завтра", "")
    first_id = first.id
    session.commit()
    home = client.get("/").get_data(as_text=True)
    nav = home[home.index('class="bottom-nav"') :]
    assert '<span class="nav-count">2<' in nav
    centre = client.get("/notifications/").get_data(as_text=True)
    assert "Платёж зачислен" in centre and centre.count("notification-unread") == 2

    answer = client.get(f"/notifications/{first_id}/open")
    assert answer.status_code == 303 and answer.headers["Location"] == "/history/"
    assert notifications.unread_count(session, person.id) == 1
    assert '<span class="nav-count">1<' in client.get("/").get_data(as_text=True)

    answer = client.post("/notifications/read", data={"csrf_token": token_of(client)})
    assert answer.status_code == 303
    assert notifications.unread_count(session, person.id) == 0
    assert "nav-count" not in client.get("/").get_data(as_text=True)


def test_another_persons_notification_is_404(app, client, session, person):
    other = create_subscriber(session).person
    with app.app_context():
        theirs = notifications.notify(session, other.id, NotificationKind.VISITS, "a", "b", "")
    theirs_id = theirs.id
    session.commit()
    assert client.get(f"/notifications/{theirs_id}/open").status_code == 404
    assert notifications.unread_count(session, other.id) == 1


def test_the_pages_need_a_sign_in(client):
    for path in ("/notifications/", "/notifications/settings"):
        assert client.get(path).status_code in (302, 303)


# --- keys and startup ------------------------------------------------------------------


def test_push_keys_are_written_once_into_the_instance_folder(runner, app, tmp_path, monkeypatch):
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    first = runner.invoke(args=["push", "keys"])
    assert first.exit_code == 0, first.output
    stored = json.loads((tmp_path / "vapid.json").read_text())
    assert (tmp_path / "vapid.json").stat().st_mode & 0o077 == 0
    assert stored["public_key"] in first.output
    assert keys.public_key_of(stored["private_key"]) == stored["public_key"]
    again = runner.invoke(args=["push", "keys"])
    assert json.loads((tmp_path / "vapid.json").read_text()) == stored
    assert "Keeping" in again.output
    runner.invoke(args=["push", "keys", "--replace"])
    assert json.loads((tmp_path / "vapid.json").read_text()) != stored


def test_instance_keys_turn_push_on(tmp_path):
    pair = keys.write_instance_keys(str(tmp_path))
    settings = {"PORTAL_MODE": "development", "PORTAL_SITE": "1city.org"}
    config.resolve_push(settings, str(tmp_path))
    assert settings["PORTAL_PUSH_ENABLED"] is True
    assert settings["PORTAL_VAPID_PUBLIC_KEY"] == pair["public_key"]
    assert settings["PORTAL_PUSH_SUBJECT"] == "mailto:support@1city.org"


def test_production_refuses_push_on_without_keys(tmp_path):
    with pytest.raises(RuntimeError, match="PORTAL_PUSH"):
        start(tmp_path, PORTAL_PUSH_ENABLED=True)


def test_production_starts_with_push_and_keys(tmp_path):
    pair = keys.generate()
    app = start(tmp_path, PORTAL_PUSH_ENABLED=True, PORTAL_VAPID_PRIVATE_KEY=pair["private_key"])
    assert app.config["PORTAL_VAPID_PUBLIC_KEY"] == pair["public_key"]
    assert app.config["PORTAL_PUSH_ALLOW_LOCAL"] is False


def test_production_refuses_internal_push_endpoints(tmp_path):
    pair = keys.generate()
    with pytest.raises(RuntimeError, match="PORTAL_PUSH_ALLOW_LOCAL"):
        start(
            tmp_path,
            PORTAL_PUSH_ENABLED=True,
            PORTAL_VAPID_PRIVATE_KEY=pair["private_key"],
            PORTAL_PUSH_ALLOW_LOCAL=True,
        )


def test_the_prompt_is_in_the_profile(client, person, push_on):
    profile = client.get("/profile/").get_data(as_text=True)
    assert f'data-push-key="{push_on["public_key"]}"' in profile
    assert "data-offer-only" not in profile  # there it also turns push off
    assert 'href="/notifications/settings"' in profile


def test_after_a_payment_the_prompt_only_offers(app, client, session, person, push_on):
    account = session.scalar(sa.select(Account).where(Account.person_id == person.id))
    with app.app_context():
        payment = credited_payment(session, account, amount=300_00)
        session.commit()
    page = client.get(f"/pay/{payment.id}").get_data(as_text=True)
    prompt = page[page.index('id="push"') :]
    assert f'data-push-key="{push_on["public_key"]}"' in prompt
    assert "data-offer-only" in prompt.split(">")[0]


def test_production_refuses_push_turned_on_by_the_environment_without_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_PUSH", "1")
    monkeypatch.delenv("PORTAL_VAPID_PRIVATE_KEY", raising=False)
    with pytest.raises(RuntimeError, match="no valid VAPID key"):
        start(tmp_path)


def test_production_refuses_a_vapid_key_that_is_no_key(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_VAPID_PRIVATE_KEY", "not-a-key")
    with pytest.raises(RuntimeError, match="no valid VAPID key"):
        start(tmp_path)


@pytest.mark.parametrize(
    ("unread", "label", "language"),
    [
        (1, "непрочитанное уведомление", "ru"),
        (2, "непрочитанных уведомления", "ru"),
        (5, "непрочитанных уведомлений", "ru"),
        (11, "непрочитанных уведомлений", "ru"),
        (21, "непрочитанное уведомление", "ru"),
        (22, "непрочитанных уведомления", "ru"),
        (1, "unread notification", "en"),
        (2, "unread notifications", "en"),
    ],
)
def test_the_count_on_the_bar_is_read_out_in_the_form_of_its_number(
    app, client, session, person, unread, label, language
):
    """A screen reader reads the count with its words: "1 непрочитанное уведомление",
    "2 непрочитанных уведомления", never "1 непрочитанных уведомлений"."""
    with app.app_context():
        entries = [(person.id, "Платёж зачислен", "500 ₽")] * unread
        notifications.notify_many(session, NotificationKind.PAYMENTS, entries, "history/")
    session.commit()
    home = client.get("/", headers={"Accept-Language": language}).get_data(as_text=True)
    nav = home[home.index('class="bottom-nav"') :]
    count = f'<span class="nav-count">{unread}<span class="visually-hidden"> {label}</span></span>'
    assert count in nav
