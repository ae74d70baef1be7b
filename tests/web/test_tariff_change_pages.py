"""The tariff change and the add-ons pages: side by side, confirm, refusals, forged ids."""

import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from portal.models import (
    AddonStart,
    AuditEvent,
    LedgerEntry,
    Subscription,
    TakesEffect,
    TariffChange,
)
from tests.conftest import csrf_from
from tests.factories import (
    PASSWORD,
    create_group,
    create_service,
    create_subscriber,
    create_tariff,
)

EN = {"Accept-Language": "en"}
RU = {"Accept-Language": "ru"}


def key_from(html: str) -> str:
    return re.search(r'name="key" type="hidden" value="([0-9a-f]{32})"', html).group(1)


@pytest.fixture
def home(session, auth, frozen_clock):
    frozen_clock.set(datetime(2026, 12, 10, 9, 0, tzinfo=UTC))
    group = create_group(session, fees=(100_00, 0, 0), changes_per_month=3)
    base = create_tariff(session, price=310_00, group=group, name="Город", speed_mbps=50)
    fast = create_tariff(
        session, price=620_00, group=group, name="Город Турбо", takes_effect=TakesEffect.TODAY
    )
    later = create_tariff(session, price=465_00, group=group, name="Город Плюс")
    other = create_tariff(session, price=100_00, group=create_group(session), name="Чужой")
    new = create_subscriber(
        session, login="changer", balance=1_000_00, tariffs=[base], start=date(2026, 1, 1)
    )
    session.commit()
    auth.login("changer", PASSWORD)
    return new, base, fast, later, other


def confirm(client, tariff, headers=EN):
    html = client.get(f"/tariffs/{tariff.id}", headers=headers).get_data(as_text=True)
    data = {"csrf_token": csrf_from(html), "key": key_from(html)}
    return client.post(f"/tariffs/{tariff.id}", data=data, headers=headers), data


def test_the_side_by_side_page_shows_the_difference_fee_and_day(client, home):
    _, _base, fast, later, _ = home
    html = client.get(f"/tariffs/{fast.id}", headers=EN).get_data(as_text=True)
    assert "Город" in html and "Город Турбо" in html
    assert re.search(r'id="difference">\+310\.00\sRUB', html)
    assert re.search(r'id="fee">100\sRUB', html)
    assert 'id="takes-effect">today' in html
    assert "Confirm the change" in html
    later_html = client.get(f"/tariffs/{later.id}", headers=EN).get_data(as_text=True)
    assert 'id="takes-effect">1 January 2027' in later_html


def test_confirming_changes_the_tariff_once(client, session, home):
    new, base, fast, _, _ = home
    answer, data = confirm(client, fast)
    assert answer.status_code == 303
    again = client.post(f"/tariffs/{fast.id}", data=data, headers=EN)
    assert again.status_code == 409
    assert "made already" in again.get_data(as_text=True)
    mine = sa.select(sa.func.count()).where(TariffChange.account_id == new.account.id)
    assert session.scalar(mine) == 1
    events = session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.event == "tariff.changed", AuditEvent.account_id == new.account.id
        )
    )
    event = events.one()
    assert event.actor == f"person:{new.person.id}"
    assert (
        event.data["before"]["tariff"] == base.code and event.data["after"]["tariff"] == fast.code
    )
    page = client.get("/tariffs/", headers=EN).get_data(as_text=True)
    assert "Город Турбо</h3>" in page.split("Your tariff</p>")[0]


def test_a_scheduled_change_is_listed_and_cancelled(client, session, home):
    new, base, _, later, _ = home
    assert confirm(client, later)[0].status_code == 303
    page = client.get("/tariffs/", headers=EN).get_data(as_text=True)
    assert "Scheduled changes" in page and "1 January 2027" in page
    change = session.scalar(
        sa.select(TariffChange).where(TariffChange.account_id == new.account.id)
    )
    token = csrf_from(page)
    answer = client.post(f"/tariffs/changes/{change.id}/cancel", data={"csrf_token": token})
    assert answer.status_code == 303
    again = client.post(f"/tariffs/changes/{change.id}/cancel", data={"csrf_token": token})
    assert again.status_code == 409
    session.expire_all()
    assert [s.tariff_id for s in new.account.subscriptions] == [base.id]


def test_another_subscribers_change_is_a_404(client, session, home):
    _, base, _, later, _ = home
    stranger = create_subscriber(session, balance=1_000_00, tariffs=[base])
    from portal.domain import tariff_change

    theirs = tariff_change.change(
        session,
        stranger.account.id,
        later.id,
        date(2026, 12, 10),
        person_id=stranger.person.id,
        form_key="f" * 32,
        block_threshold=0,
    )
    session.commit()
    token = csrf_from(client.get("/tariffs/").get_data(as_text=True))
    assert (
        client.post(f"/tariffs/changes/{theirs.id}/cancel", data={"csrf_token": token}).status_code
        == 404
    )
    assert (
        client.post("/tariffs/changes/999999/cancel", data={"csrf_token": token}).status_code == 404
    )
    session.expire_all()
    assert session.get(TariffChange, theirs.id).cancelled_at is None


def test_another_groups_tariff_or_an_unknown_one_is_refused(client, session, home):
    _, _, _, _, other = home
    html = client.get(f"/tariffs/{other.id}", headers=RU).get_data(as_text=True)
    token = csrf_from(html)
    assert "Confirm" not in html
    answer = client.post(
        f"/tariffs/{other.id}", data={"csrf_token": token, "key": "a" * 32}, headers=RU
    )
    assert answer.status_code == 400
    assert "только на другой тариф его группы" in answer.get_data(as_text=True)
    assert client.get("/tariffs/999999").status_code == 404
    assert (
        client.post("/tariffs/999999", data={"csrf_token": token, "key": "a" * 32}).status_code
        == 404
    )
    assert client.post(f"/tariffs/{other.id}", data={"csrf_token": token}).status_code == 400
    assert session.scalar(sa.select(sa.func.count()).select_from(TariffChange)) == 0


def test_a_fee_the_balance_cannot_carry_links_to_paying_the_missing_sum(client, session, home):
    new, _, fast, _, _ = home
    from portal.domain import ledger
    from portal.models import EntryKind

    ledger.post(session, new.account.id, EntryKind.CORRECTION, -950_00, key="test:drain")
    session.commit()
    html = client.get(f"/tariffs/{fast.id}", headers=EN).get_data(as_text=True)
    assert re.search(r"50\sRUB is missing", html) and "/pay/?amount=50" in html
    assert "Confirm the change" not in html
    answer = client.post(
        f"/tariffs/{fast.id}", data={"csrf_token": csrf_from(html), "key": "b" * 32}, headers=EN
    )
    assert answer.status_code == 409
    assert session.scalar(sa.select(sa.func.count()).select_from(TariffChange)) == 0
    # Nothing written for the account: its opening balance and the drain only.
    own = sa.select(sa.func.count()).where(LedgerEntry.account_id == new.account.id)
    assert session.scalar(own) == 2


# --- add-ons ---------------------------------------------------------------------------


def test_an_addon_is_connected_through_its_confirm_page_and_disconnected(client, session, home):
    new, _base, *_ = home
    ip = create_service(session, price=31_00, name="Статический IP")
    needs = create_service(session, name="ТВ-пакет", requires_tariff_id=create_tariff(session).id)
    session.commit()
    page = client.get("/services/", headers=EN).get_data(as_text=True)
    assert "Needs the tariff" in page and "disabled" in page
    confirm_page = client.get(f"/services/{ip.id}/connect", headers=EN).get_data(as_text=True)
    assert re.search(r"31\sRUB", confirm_page) and "tomorrow, 11 December 2026" in confirm_page
    token = csrf_from(confirm_page)
    assert client.post(f"/services/{ip.id}/connect", data={"csrf_token": token}).status_code == 303
    again = client.post(f"/services/{ip.id}/connect", data={"csrf_token": token}, headers=EN)
    assert again.status_code == 409 and "already" in again.get_data(as_text=True)
    refused = client.post(f"/services/{needs.id}/connect", data={"csrf_token": token}, headers=EN)
    assert refused.status_code == 409
    assert client.get(f"/services/{needs.id}/connect").status_code == 400
    assert client.post("/services/999999/connect", data={"csrf_token": token}).status_code == 404
    mine = session.scalar(sa.select(Subscription).where(Subscription.service_id == ip.id))
    stranger = create_subscriber(session, services=[ip])
    session.commit()
    theirs = stranger.account.subscriptions[0]
    assert (
        client.post(
            f"/services/connected/{theirs.id}/disconnect", data={"csrf_token": token}
        ).status_code
        == 404
    )
    answer = client.post(f"/services/connected/{mine.id}/disconnect", data={"csrf_token": token})
    assert answer.status_code == 303
    assert (
        session.scalars(sa.select(AuditEvent.event).where(AuditEvent.account_id == new.account.id))
        .all()
        .count("addon.connected")
        == 1
    )


def test_over_the_monthly_limit_is_refused_in_the_subscribers_language(
    client, session, auth, home, frozen_clock
):
    _, base, fast, _, _ = home
    base.group.changes_per_month = 1
    session.commit()
    assert confirm(client, fast, headers=RU)[0].status_code == 303
    token = csrf_from(client.get("/tariffs/").get_data(as_text=True))
    data = {"csrf_token": token, "key": "c" * 32}
    # The same day: the next change waits for tomorrow.
    answer = client.post(f"/tariffs/{base.id}", data=data, headers=RU)
    assert answer.status_code == 409
    assert "Тариф сегодня уже сменён" in answer.get_data(as_text=True)
    # Tomorrow, the month's one change is used up.
    frozen_clock.set(datetime(2026, 12, 11, 9, 0, tzinfo=UTC))
    auth.login("changer", PASSWORD)  # a day later, a new sign-in
    data["csrf_token"] = csrf_from(client.get("/tariffs/").get_data(as_text=True))
    answer = client.post(f"/tariffs/{base.id}", data=data, headers=RU)
    assert answer.status_code == 409
    assert "Лимит смен тарифа в этом месяце исчерпан (1)" in answer.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(TariffChange)) == 1


def test_the_side_by_side_page_names_the_addons_the_change_disconnects(client, session, home):
    new, base, _, later, _ = home
    tied = create_service(session, price=150_00, name="Выделенный IP", requires_tariff=base)
    session.add(Subscription(account_id=new.account.id, service=tied, started_on=date(2026, 1, 1)))
    session.commit()
    html = client.get(f"/tariffs/{later.id}", headers=EN).get_data(as_text=True)
    notice = html[html.index('id="ending-addons"') :]
    assert "31 December 2026 is their last day" in notice and "Выделенный IP" in notice
    answer, _ = confirm(client, later)
    assert answer.status_code == 303
    ended = session.scalar(
        sa.select(Subscription.ended_on).where(
            Subscription.account_id == new.account.id, Subscription.service_id == tied.id
        )
    )
    assert ended == date(2026, 12, 31)
    ru = client.get("/", headers=RU).get_data(as_text=True)
    assert "«Выделенный IP»: последний день" in ru


def test_the_confirm_page_of_an_addon_the_scheduled_change_will_end_says_when(
    client, session, home
):
    _, base, _, later, _ = home
    tied = create_service(session, price=150_00, name="Выделенный IP", requires_tariff=base)
    free = create_service(session, price=50_00, name="Антивирус")
    session.commit()
    before = client.get(f"/services/{tied.id}/connect", headers=EN).get_data(as_text=True)
    assert 'id="ends"' not in before
    assert confirm(client, later)[0].status_code == 303
    html = client.get(f"/services/{tied.id}/connect", headers=EN).get_data(as_text=True)
    assert 'id="ends">31 December 2026' in html and 'id="ends-why"' in html
    untied = client.get(f"/services/{free.id}/connect", headers=EN).get_data(as_text=True)
    assert 'id="ends"' not in untied


def test_a_scheduled_change_names_the_addons_it_disconnects_and_cancelling_names_them_back(
    client, session, home
):
    """The pending change says which add-ons go with it, one not started yet included;
    cancelling it says they stay, and they do."""
    new, base, _, later, _ = home
    tied = create_service(session, price=150_00, name="Выделенный IP", requires_tariff=base)
    free = create_service(session, price=50_00, name="Антивирус")
    soon = create_service(
        session, name="ТВ-приставка", requires_tariff=base, starts=AddonStart.TOMORROW
    )
    for service in (tied, free):
        session.add(
            Subscription(account_id=new.account.id, service=service, started_on=date(2026, 1, 1))
        )
    session.add(Subscription(account_id=new.account.id, service=soon, started_on=date(2027, 1, 1)))
    session.commit()
    html = client.get(f"/tariffs/{later.id}", headers=EN).get_data(as_text=True)
    notice = html[html.index('id="ending-addons"') :]
    assert "Выделенный IP" in notice and "ТВ-приставка" in notice
    assert "Антивирус" not in notice
    assert "will not start" in notice.split("ТВ-приставка")[1].split("</li>")[0]
    assert "will not start" not in notice.split("Выделенный IP")[1].split("</li>")[0]
    assert confirm(client, later)[0].status_code == 303
    page = client.get("/tariffs/", headers=EN).get_data(as_text=True)
    change = session.scalar(
        sa.select(TariffChange).where(TariffChange.account_id == new.account.id)
    )
    listed = page[page.index(f'id="change-{change.id}-addons"') :].split("</p>")[0]
    assert "Выделенный IP, ТВ-приставка" in listed and "Антивирус" not in listed
    assert "cancelling it keeps them" in listed
    text = cancel_in_english(client, change.id, page)
    assert "These add-ons stay connected: Выделенный IP, ТВ-приставка." in text
    session.expire_all()
    running = {
        s.service_id: (s.started_on, s.ended_on) for s in new.account.subscriptions if s.service_id
    }
    assert running == {
        tied.id: (date(2026, 1, 1), None),
        free.id: (date(2026, 1, 1), None),
        soon.id: (date(2027, 1, 1), None),
    }


def cancel_in_english(client, change_id: int, page: str) -> str:
    """The scheduled change cancelled from the tariffs page: the page that comes back."""
    answer = client.post(
        f"/tariffs/changes/{change_id}/cancel",
        data={"csrf_token": csrf_from(page)},
        headers=EN,
        follow_redirects=True,
    )
    return answer.get_data(as_text=True)


def test_cancelling_a_change_that_disconnects_nothing_says_only_that(client, session, home):
    _, _, _, later, _ = home
    assert confirm(client, later)[0].status_code == 303
    page = client.get("/tariffs/", headers=EN).get_data(as_text=True)
    assert "-addons" not in page.split('id="pending-changes"')[1]
    change = session.scalar(sa.select(TariffChange))
    text = cancel_in_english(client, change.id, page)
    assert "The tariff change is cancelled." in text and "stay connected" not in text
