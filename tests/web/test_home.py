"""The account home: the figures a subscriber reads first, and switching accounts."""

from datetime import UTC, date, datetime

import pytest

from portal.domain import subscribers
from portal.models import AccountStatus
from tests.conftest import csrf_from
from tests.factories import PASSWORD, create_service, create_subscriber, create_tariff

EN = {"Accept-Language": "en"}


@pytest.fixture
def signed_in(session, auth, frozen_clock):
    """A subscriber with internet 310 ₽, TV 155 ₽ and an add-on 31 ₽ (December: 31 days),
    signed in on 1 December 2026 at noon, Yalta time."""
    frozen_clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    internet = create_tariff(session, price=310_00, name="Город")
    tv = create_tariff(session, price=155_00, name="ТВ Базовый", kind="tv")
    addon = create_service(session, price=31_00, name="Статический IP")
    new = create_subscriber(
        session,
        login="home",
        balance=496_00,
        tariffs=[internet, tv],
        services=[addon],
        start=date(2026, 11, 1),
    )
    session.commit()
    auth.login("home", PASSWORD)
    return new


def test_home_shows_balance_status_contract_tariffs_and_support(client, signed_in):
    html = client.get("/", headers=EN).get_data(as_text=True)
    assert "496.00\xa0RUB" in html
    assert "Active" in html
    assert signed_in.account.contract_number in html
    assert signed_in.account.personal_account in html
    assert "Город" in html and "ТВ Базовый" in html and "Статический IP" in html
    assert "Total per month" in html and "496" in html.split("Total per month")[1][:80]
    assert 'href="tel:+79780002535"' in html


def test_days_left_and_run_out_date(client, signed_in):
    # 496 ₽ a month in a 31-day month is 16 ₽ a day: 496 ₽ lasts 31 days from 2 Dec,
    # so it runs out on 2 January (January's share is 16 ₽ too).
    html = client.get("/", headers=EN).get_data(as_text=True)
    assert "Enough for 31 days, until 2 January 2027." in html


@pytest.mark.parametrize(
    ("threshold", "text", "top_up"),
    [
        # A debt of 100 ₽ allowed: 596 ₽ to spend, 37 days at 16 ₽ from 2 Dec.
        (-100_00, "Enough for 37 days, until 8 January 2027.", 480),
        # 96 ₽ to keep: 400 ₽ to spend, 25 days; the reserve is in the top-up too.
        (96_00, "Enough for 25 days, until 27 December 2026.", 576),
    ],
)
def test_days_left_follow_the_block_threshold(
    app, client, signed_in, monkeypatch, threshold, text, top_up
):
    """The forecast stops where the run blocks: below PORTAL_BLOCK_THRESHOLD."""
    monkeypatch.setitem(app.config, "PORTAL_BLOCK_THRESHOLD", threshold)
    html = client.get("/", headers=EN).get_data(as_text=True)
    assert text in html
    assert f'href="/pay/?amount={top_up}"' in html


def test_recommended_top_up_reaches_the_end_of_next_month(client, signed_in):
    # 2..31 Dec (30 days) and all of January (31 days): 61 × 16 ₽ = 976 ₽, minus 496 ₽.
    html = client.get("/", headers=EN).get_data(as_text=True)
    assert "Recommended top-up to the end of next month: 480\xa0RUB" in html


def test_pay_comes_first_on_the_home_page(client, signed_in):
    html = client.get("/", headers=EN).get_data(as_text=True)
    main = html[html.index("<main") :]
    # The Pay button carries the recommended sum (480 ₽) to the Pay page.
    assert main.index('href="/pay/?amount=480"') < main.index("Contract number")


def test_negative_balance_and_blocked_status(client, session, signed_in):
    account = signed_in.account
    from portal.domain import ledger
    from portal.models import EntryKind

    ledger.post(session, account.id, EntryKind.CORRECTION, -600_00, key="debt")
    session.get(type(account), account.id).status = AccountStatus.BLOCKED
    session.commit()
    html = client.get("/", headers=EN).get_data(as_text=True)
    assert "Blocked for debt" in html
    assert "The balance is negative" in html
    assert 'class="balance negative"' in html


def test_several_accounts_switch_and_stay_private(client, session, signed_in, auth):
    person = signed_in.person
    second = subscribers.add_account(
        session, person, contract_number="DACHA-7", address="Массандра", start=date(2026, 11, 1)
    )
    stranger = create_subscriber(session)
    session.commit()
    html = client.get("/").get_data(as_text=True)
    assert "DACHA-7" in html  # offered in the switcher
    token = csrf_from(html)
    r = client.post("/account", data={"account_id": second.id, "csrf_token": token})
    assert r.status_code == 303
    html = client.get("/").get_data(as_text=True)
    assert "Массандра" in html
    r = client.post("/account", data={"account_id": stranger.account.id, "csrf_token": token})
    assert r.status_code == 404
    for bad in ["", "abc", "-1", "99999999999999999999"]:
        r = client.post("/account", data={"account_id": bad, "csrf_token": token})
        assert r.status_code == 400, bad


@pytest.mark.parametrize(
    ("host", "referrer", "back"),
    [
        ("localhost", "http://localhost/history/?before=5", "/history/?before=5"),
        ("localhost", "http://evil.example/pay/", "/pay/"),  # only the path is followed
        ("localhost", "https://elsewhere.example/x", "/x"),
        ("localhost", None, "/"),
    ],
)
def test_switching_accounts_returns_to_the_page_on_this_site(
    client, session, signed_in, host, referrer, back
):
    subscribers.add_account(
        session, signed_in.person, contract_number="DACHA-8", start=date(2026, 11, 1)
    )
    session.commit()
    html = client.get("/").get_data(as_text=True)
    second = max(a.id for a in signed_in.person.accounts)
    headers = {"Host": host, **({"Referer": referrer} if referrer else {})}
    r = client.post(
        "/account", data={"account_id": second, "csrf_token": csrf_from(html)}, headers=headers
    )
    assert r.status_code == 303
    assert r.headers["Location"] == back


def test_every_section_is_one_tap_away(client, signed_in):
    html = client.get("/").get_data(as_text=True)
    nav = html[html.index('class="bottom-nav"') :]
    for path in ["/pay/", "/history/", "/tariffs/", "/services/", "/visits/", "/promos/"]:
        assert f'href="{path}"' in nav
        assert client.get(path).status_code == 200


def test_the_bottom_bar_follows_the_page_and_the_language(client, signed_in):
    # The bar is drawn once per language, page and unread count (filters.bottom_nav):
    # each page marks its own section, each language reads its own labels.
    def nav(path, headers=None):
        html = client.get(path, headers=headers or {}).get_data(as_text=True)
        return html[html.index('class="bottom-nav"') :]

    assert 'aria-current="page"' not in nav("/")
    assert '<a href="/history/" aria-current="page">' in nav("/history/")
    assert '<a href="/pay/" aria-current="page">' in nav("/pay/")
    assert "<span>История</span>" in nav("/history/")
    assert "<span>History</span>" in nav("/history/", EN)
    assert "<span>История</span>" in nav("/history/")


def test_history_lists_entries_newest_first_and_pages(client, session, signed_in):
    from portal.domain import ledger
    from portal.models import EntryKind

    for n in range(40):
        ledger.post(
            session,
            signed_in.account.id,
            EntryKind.CHARGE,
            -(n + 1),
            key=f"h{n}",
            description=f"charge {n}",
        )
    session.commit()
    html = client.get("/history/").get_data(as_text=True)
    assert html.index("charge 39") < html.index("charge 38")
    assert "charge 10" in html and "charge 9<" not in html
    more = client.get(
        "/history/?before=" + html.split("before=")[1].split('"')[0], headers={"HX-Request": "true"}
    )
    fragment = more.get_data(as_text=True)
    assert "<html" not in fragment and "charge 9<" in fragment


def test_history_refuses_a_nonsense_cursor_with_a_message(client, signed_in):
    for value in ["abc", "-5", "9" * 30]:
        answer = client.get(f"/history/?before={value}", headers=EN)
        assert answer.status_code == 400
        assert "This link to earlier entries is broken" in answer.get_data(as_text=True)


def test_home_says_what_changes_on_which_date(client, session, signed_in):
    """A scheduled tariff change and an add-on starting tomorrow, each with its date."""
    from portal.domain import tariff_change as tc
    from portal.models import Subscription
    from tests.factories import create_group

    account = signed_in.account
    group = create_group(session)
    current = next(s for s in account.subscriptions if s.tariff and s.tariff.kind == "internet")
    current.tariff.group = group
    faster = create_tariff(session, price=465_00, name="Город 200", group=group)
    tc.change(
        session,
        account.id,
        faster.id,
        date(2026, 12, 1),
        person_id=account.person_id,
        form_key="home-coming",
        block_threshold=0,
    )
    antivirus = create_service(session, price=31_00, name="Антивирус")
    session.add(
        Subscription(account_id=account.id, service=antivirus, started_on=date(2026, 12, 2))
    )
    session.commit()
    html = client.get("/", headers=EN).get_data(as_text=True)
    coming = html[html.index('id="coming"') :]
    assert "2 December 2026" in coming and "Антивирус is connected" in coming
    assert "1 January 2027" in coming and "Tariff Город 200 instead of Город" in coming
    assert coming.index("2 December 2026") < coming.index("1 January 2027")
