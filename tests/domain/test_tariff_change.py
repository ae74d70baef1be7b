"""A subscriber's tariff change: the rules, the month's arithmetic, cancelling; add-ons
connected and disconnected."""

import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal import clock
from portal.domain import addons, billing, catalog, ledger, suspension
from portal.domain import tariff_change as tc
from portal.domain.billing import charges
from portal.domain.errors import NotFound
from portal.models import (
    AccountStatus,
    AddonStart,
    AuditEvent,
    BillingDay,
    EntryKind,
    LedgerEntry,
    Subscription,
    TakesEffect,
)
from tests.factories import create_group, create_service, create_subscriber, create_tariff

START = date(2026, 1, 1)


def key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def home(session):
    group = create_group(session, fees=(100_00, 50_00, 10_00), changes_per_month=2)
    base = create_tariff(session, price=310_00, group=group, takes_effect=TakesEffect.TODAY)
    fast = create_tariff(session, price=620_00, group=group, takes_effect=TakesEffect.TODAY)
    later = create_tariff(session, price=465_00, group=group)  # next month
    new = create_subscriber(session, balance=10_000_00, tariffs=[base], start=START)
    session.commit()
    return new, base, fast, later


def change(session, account, target, today, *, form_key=None, threshold=0):
    return tc.change(
        session,
        account.id,
        target.id,
        today,
        person_id=account.person_id,
        form_key=form_key or key(),
        block_threshold=threshold,
    )


def run(session, first, last):
    day = first
    while day <= last:
        billing.run_day(session, day, block_threshold=-(10**9))
        day += timedelta(days=1)


def charged(session, account_id, first, last) -> int:
    """Charges less what was given back, for the service days first..last."""
    total = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.account_id == account_id,
            LedgerEntry.service_date.between(first, last),
            ~LedgerEntry.idempotency_key.like("tariff_change:%:fee"),
            LedgerEntry.kind.in_([EntryKind.CHARGE, EntryKind.CREDIT]),
        )
    )
    return -int(total)


def share(price, first, last):
    """What a tariff costs for the days first..last of one month."""
    days = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    n = days.day
    return price * last.day // n - price * (first.day - 1) // n


@pytest.mark.parametrize("run_first", [False, True], ids=["before the run", "after the run"])
@pytest.mark.parametrize("today", [date(2026, 1, 15), date(2026, 1, 31), date(2026, 2, 1)], ids=str)
def test_a_change_today_makes_the_month_add_up_exactly(session, home, today, run_first):
    new, base, fast, _ = home
    account = new.account
    first = today.replace(day=1)
    end = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    run(session, first, today - timedelta(days=1))
    if run_first:
        run(session, today, today)
    made = change(session, account, fast, today)
    assert made.takes_effect_on == today
    run(session, today, end)
    expected = share(base.monthly_price, first, today - timedelta(days=1)) if today.day > 1 else 0
    expected += share(fast.monthly_price, today, end)
    assert charged(session, account.id, first, end) == expected
    assert ledger.inconsistent_accounts(session) == []
    # Tomorrow's run charges the new tariff only.
    assert {s.tariff_id for s in account.subscriptions if billing.is_running(s, today)} == {fast.id}


def test_a_change_finds_todays_charge_made_before_the_keys_put_the_day_first(session, home):
    """Today's run made before an upgrade wrote the old shape of key: a change today after
    it still gives the old tariff's day back and charges the new one's, once."""
    new, base, fast, _ = home
    account, today = new.account, date(2026, 1, 15)
    run(session, date(2026, 1, 1), today - timedelta(days=1))
    old = account.subscriptions[0]
    share_today = billing.daily_share(base.monthly_price, today)
    ledger.post(
        session,
        account.id,
        EntryKind.CHARGE,
        -share_today,
        key=charges.old_charge_key(old.id, today),
        service_date=today,
    )
    # Today's run as it was made then: the day recorded with its charges.
    session.add(BillingDay(day=today, run_at=clock.now(), actor="billing", charges=1))
    session.flush()
    assert billing.run_day(session, today, block_threshold=-(10**9)).already_run
    change(session, account, fast, today)
    end = date(2026, 1, 31)
    run(session, today + timedelta(days=1), end)
    expected = share(base.monthly_price, date(2026, 1, 1), today - timedelta(days=1))
    expected += share(fast.monthly_price, today, end)
    assert charged(session, account.id, date(2026, 1, 1), end) == expected
    assert ledger.inconsistent_accounts(session) == []


def test_a_next_month_change_switches_on_the_first(session, home):
    new, base, _, later = home
    account = new.account
    made = change(session, account, later, date(2026, 1, 20))
    assert made.takes_effect_on == date(2026, 2, 1)
    # The forecast (the home page's) sees the change ahead, by the same subscriptions.
    session.expire_all()
    ahead = billing.charged_between(account.subscriptions, date(2026, 1, 21), date(2026, 2, 28))
    assert ahead == 310_00 * 31 // 31 - 310_00 * 20 // 31 + 465_00
    run(session, date(2026, 1, 1), date(2026, 2, 28))
    assert charged(session, account.id, date(2026, 1, 1), date(2026, 1, 31)) == 310_00
    assert charged(session, account.id, date(2026, 2, 1), date(2026, 2, 28)) == 465_00
    # The current tariff until then, the new one from the day.
    session.expire_all()
    assert catalog.connected(account, date(2026, 1, 31)).tariffs == [base]
    assert catalog.connected(account, date(2026, 2, 1)).tariffs == [later]


def test_the_fee_follows_the_direction_and_is_a_ledger_charge(session, home):
    new, base, fast, _ = home
    balance = new.account.balance
    made = change(session, new.account, fast, date(2026, 1, 10))
    assert made.fee == 100_00
    fee = session.scalar(
        sa.select(LedgerEntry).where(LedgerEntry.idempotency_key == f"tariff_change:{made.id}:fee")
    )
    assert fee.amount == -100_00 and fee.kind is EntryKind.CHARGE
    session.refresh(new.account)
    assert new.account.balance == balance - 100_00
    back = change(session, new.account, base, date(2026, 1, 11))
    assert back.fee == 50_00


def test_the_monthly_limit_counts_changes_not_cancelled(session, home):
    new, base, fast, _later = home
    change(session, new.account, fast, date(2026, 1, 10))
    change(session, new.account, base, date(2026, 1, 11))
    with pytest.raises(tc.ChangeRefused) as refused:
        change(session, new.account, fast, date(2026, 1, 12))
    assert refused.value.why is tc.Refusal.LIMIT and refused.value.limit == 2
    # A new month, a new count.
    assert change(session, new.account, fast, date(2026, 2, 1)).fee == 100_00


def test_a_second_change_the_same_day_waits_for_tomorrow(session, home):
    new, base, fast, _ = home
    change(session, new.account, fast, date(2026, 1, 10))
    with pytest.raises(tc.ChangeRefused) as refused:
        change(session, new.account, base, date(2026, 1, 10))
    assert refused.value.why is tc.Refusal.CHANGED_TODAY


def test_another_group_or_an_archived_tariff_is_refused(session, home):
    new, base, _fast, _ = home
    stranger = create_tariff(session, price=100_00, group=create_group(session))
    archived = create_tariff(session, group=base.group, archived_at=sa.func.now())
    session.flush()
    for target, why in [
        (stranger, catalog.ChangeRefusal.OTHER_GROUP),
        (archived, catalog.ChangeRefusal.ARCHIVED),
        (base, catalog.ChangeRefusal.SAME),
    ]:
        with pytest.raises(tc.ChangeRefused) as refused:
            change(session, new.account, target, date(2026, 1, 10))
        assert refused.value.why is why
    assert session.scalar(sa.select(sa.func.count()).select_from(tc.TariffChange)) == 0


def test_a_change_the_balance_cannot_carry_names_the_missing_sum(session):
    group = create_group(session, fees=(100_00, 0, 0))
    base = create_tariff(session, price=300_00, group=group)
    fast = create_tariff(session, price=600_00, group=group)
    new = create_subscriber(session, balance=30_00, tariffs=[base], start=START)
    with pytest.raises(tc.ChangeRefused) as refused:
        change(session, new.account, fast, date(2026, 1, 10), threshold=-20_00)
    assert refused.value.why is tc.Refusal.BALANCE
    assert refused.value.missing == 100_00 - 20_00 - 30_00
    # A change without a fee needs nothing.
    assert tc.missing_for(-500_00, 0, 0) == 0


def test_a_scheduled_change_is_cancelled_until_its_day_and_one_is_pending_at_a_time(session, home):
    new, base, fast, later = home
    made = change(session, new.account, later, date(2026, 1, 20))
    with pytest.raises(tc.ChangeRefused) as refused:
        change(session, new.account, fast, date(2026, 1, 21))
    assert refused.value.why is tc.Refusal.PENDING
    other = create_subscriber(session, tariffs=[base], start=START)
    with pytest.raises(NotFound):
        tc.cancel(session, other.account.id, made.id, date(2026, 1, 21), person_id=new.person.id)
    balance = new.account.balance
    assert made.fee == 100_00
    tc.cancel(session, new.account.id, made.id, date(2026, 1, 21), person_id=new.person.id)
    session.refresh(new.account)
    assert new.account.balance == balance + 100_00  # the fee came back
    with pytest.raises(tc.NotCancellable):
        tc.cancel(session, new.account.id, made.id, date(2026, 1, 21), person_id=new.person.id)
    session.expire_all()
    assert [s.tariff_id for s in new.account.subscriptions] == [base.id]
    assert new.account.subscriptions[0].ended_on is None
    run(session, date(2026, 2, 1), date(2026, 2, 28))
    assert charged(session, new.account.id, date(2026, 2, 1), date(2026, 2, 28)) == 310_00
    events = session.scalars(
        sa.select(AuditEvent.event).where(AuditEvent.account_id == new.account.id)
    ).all()
    assert tc.CHANGED in events and tc.CANCELLED in events


def test_a_change_on_its_day_is_not_cancelled(session, home):
    new, _, _, later = home
    made = change(session, new.account, later, date(2026, 1, 20))
    with pytest.raises(tc.NotCancellable):
        tc.cancel(session, new.account.id, made.id, date(2026, 2, 1), person_id=new.person.id)


def test_a_form_sent_twice_changes_once(session, home):
    new, _, fast, _ = home
    form_key = key()
    made = change(session, new.account, fast, date(2026, 1, 10), form_key=form_key)
    with pytest.raises(tc.AlreadyMade) as again:
        change(session, new.account, fast, date(2026, 1, 10), form_key=form_key)
    assert again.value.change.id == made.id


def test_the_proposal_forecasts_the_balance_after_the_change(session, home):
    new, _base, fast, _ = home
    today = date(2026, 1, 10)
    proposal = tc.propose(session, new.account, fast, today, block_threshold=0)
    assert proposal.difference == 310_00 and proposal.fee == 100_00 and proposal.refusal is None
    assert proposal.forecast.daily_charge == billing.daily_share(620_00, date(2026, 1, 11))
    # Nothing was saved.
    session.flush()
    assert session.scalar(sa.select(sa.func.count()).select_from(Subscription)) == 1


# --- add-ons ---------------------------------------------------------------------------


def test_an_addon_is_connected_from_its_start_and_disconnected_today(session, home):
    new, base, _, _ = home
    ip = create_service(session, price=31_00)
    today = date(2026, 1, 10)
    subscription = addons.connect(session, new.account.id, ip.id, today, person_id=new.person.id)
    assert subscription.started_on == today + timedelta(days=1)  # starts tomorrow by default
    with pytest.raises(catalog.AddonRefused) as refused:
        addons.connect(session, new.account.id, ip.id, today, person_id=new.person.id)
    assert [p.kind for p in refused.value.problems] == [catalog.AddonProblemKind.CONNECTED]
    # Not started yet: removed.
    addons.disconnect(session, new.account.id, subscription.id, today, person_id=new.person.id)
    assert session.get(Subscription, subscription.id) is None
    now = addons.connect(session, new.account.id, ip.id, today, person_id=new.person.id)
    addons.disconnect(
        session, new.account.id, now.id, today + timedelta(days=3), person_id=new.person.id
    )
    assert now.ended_on == today + timedelta(days=3)
    with pytest.raises(addons.NotConnected):
        addons.disconnect(
            session, new.account.id, now.id, today + timedelta(days=3), person_id=new.person.id
        )
    other = create_subscriber(session, tariffs=[base], start=START)
    with pytest.raises(NotFound):
        addons.disconnect(session, other.account.id, now.id, today, person_id=new.person.id)
    events = session.scalars(
        sa.select(AuditEvent.event).where(AuditEvent.account_id == new.account.id)
    ).all()
    assert events.count(addons.CONNECTED) == 2 and events.count(addons.DISCONNECTED) == 2


def test_an_addon_whose_rule_fails_is_refused(session, home):
    new, base, _, _ = home
    tv_group = create_group(session, kind=base.group.kind)
    needs = create_service(session, requires_group_id=tv_group.id)
    one = create_service(session, starts=catalog.AddonStart.TODAY)
    two = create_service(session)
    two.excludes_earlier.append(one)
    session.flush()
    today = date(2026, 1, 10)
    with pytest.raises(catalog.AddonRefused) as refused:
        addons.connect(session, new.account.id, needs.id, today, person_id=new.person.id)
    assert refused.value.problems[0].kind is catalog.AddonProblemKind.REQUIRES_GROUP
    assert (
        addons.connect(session, new.account.id, one.id, today, person_id=new.person.id).started_on
        == today
    )
    session.expire_all()
    with pytest.raises(catalog.AddonRefused) as refused:
        addons.connect(session, new.account.id, two.id, today, person_id=new.person.id)
    assert refused.value.problems[0].kind is catalog.AddonProblemKind.EXCLUDED
    with pytest.raises(NotFound):
        addons.connect(session, new.account.id, 10**6, today, person_id=new.person.id)


def addon_charged(session, subscription_id, first, last) -> int:
    """What the run charged one subscription for the days first..last."""
    total = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.idempotency_key.like(f"charge:%:{subscription_id}"),
            LedgerEntry.service_date.between(first, last),
        )
    )
    return -int(total)


@pytest.fixture
def with_addon(session, home):
    """The home subscriber with an add-on (310 a month) that requires its tariff, one
    that requires nothing."""
    new, base, _, later = home
    tied = create_service(session, price=310_00, name="IP", requires_tariff=base)
    free = create_service(session, price=31_00, name="Антивирус")
    for service in (tied, free):
        session.add(Subscription(account_id=new.account.id, service=service, started_on=START))
    session.flush()
    session.expire(new.account, ["subscriptions"])
    held = {s.service_id: s for s in new.account.subscriptions if s.service_id}
    return new, later, held[tied.id], held[free.id]


def test_a_scheduled_change_ends_the_addons_that_need_the_old_tariff_on_its_eve(
    session, with_addon
):
    new, later, tied, free = with_addon
    account = new.account
    today = date(2026, 1, 20)
    proposal = tc.propose(session, account, later, today, block_threshold=0)
    assert proposal.ending_addons == [tied]
    assert proposal.addons_last_day == date(2026, 1, 31)
    made = change(session, account, later, today)
    assert made.ended_addon_ids == [tied.id]
    session.refresh(tied)
    session.refresh(free)
    assert (tied.ended_on, free.ended_on) == (date(2026, 1, 31), None)
    (event,) = session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.event == tc.CHANGED, AuditEvent.account_id == account.id
        )
    ).all()
    assert (event.data["before"]["addons"], event.data["after"]["addons"]) == (
        [tied.service.code],
        [],
    )
    # The runs up to and after the change's day: the add-on to the end of January only.
    run(session, date(2026, 1, 1), date(2026, 2, 28))
    assert addon_charged(session, tied.id, date(2026, 1, 1), date(2026, 1, 31)) == 310_00
    assert addon_charged(session, tied.id, date(2026, 2, 1), date(2026, 2, 28)) == 0
    assert addon_charged(session, free.id, date(2026, 2, 1), date(2026, 2, 28)) == 31_00
    assert charged(session, account.id, date(2026, 2, 1), date(2026, 2, 28)) == 465_00 + 31_00
    session.expire_all()
    assert [a.subscription.id for a in addons.held(account, date(2026, 2, 1))] == [free.id]
    assert ledger.inconsistent_accounts(session) == []


def test_the_proposal_charges_an_ending_addon_its_promotional_price(session, with_addon):
    new, later, tied, _free = with_addon
    tied.price_override, tied.price_override_until = 0, date(2026, 3, 31)
    session.flush()
    today = date(2026, 1, 20)
    proposal = tc.propose(session, new.account, later, today, block_threshold=0)
    # Tomorrow: the old tariff (310) and the free add-on (31), the tied one at 0.
    tomorrow = today + timedelta(days=1)
    assert proposal.forecast.daily_charge == billing.daily_share(
        310_00, tomorrow
    ) + billing.daily_share(31_00, tomorrow)


def test_cancelling_the_change_lets_the_addons_it_ended_run_on(session, with_addon):
    new, later, tied, _ = with_addon
    made = change(session, new.account, later, date(2026, 1, 20))
    tc.cancel(session, new.account.id, made.id, date(2026, 1, 21), person_id=new.person.id)
    session.refresh(tied)
    assert tied.ended_on is None
    run(session, date(2026, 2, 1), date(2026, 2, 28))
    assert addon_charged(session, tied.id, date(2026, 2, 1), date(2026, 2, 28)) == 310_00


def test_a_change_today_disconnects_those_addons_from_tomorrow(session, home, with_addon):
    new, _, tied, _ = with_addon
    fast = home[2]
    today = date(2026, 1, 15)
    run(session, date(2026, 1, 1), today)  # today charged already: the add-on stays for it
    proposal = tc.propose(session, new.account, fast, today, block_threshold=0)
    assert (proposal.ending_addons, proposal.addons_last_day) == ([tied], today)
    change(session, new.account, fast, today)
    session.refresh(tied)
    assert tied.ended_on == today
    run(session, today + timedelta(days=1), date(2026, 1, 31))
    assert addon_charged(session, tied.id, date(2026, 1, 1), date(2026, 1, 31)) == share(
        310_00, date(2026, 1, 1), today
    )


def test_an_addon_connected_after_a_change_is_scheduled_ends_with_the_old_tariff(session, home):
    """Connected while a change away from the tariff it requires waits for its day, the
    add-on ends on the change's eve like those held when the change was made, and runs
    on if the change is cancelled."""
    new, base, _, later = home
    tied = create_service(session, price=310_00, name="IP", requires_tariff=base)
    free = create_service(session, price=31_00, name="Антивирус")
    made = change(session, new.account, later, date(2026, 1, 20))
    connected = addons.connect(
        session, new.account.id, tied.id, date(2026, 1, 22), person_id=new.person.id
    )
    other = addons.connect(
        session, new.account.id, free.id, date(2026, 1, 22), person_id=new.person.id
    )
    assert (connected.ended_on, other.ended_on) == (date(2026, 1, 31), None)
    assert made.ended_addon_ids == [connected.id]
    run(session, date(2026, 1, 23), date(2026, 2, 28))
    assert addon_charged(session, connected.id, date(2026, 2, 1), date(2026, 2, 28)) == 0
    assert addon_charged(session, connected.id, date(2026, 1, 23), date(2026, 1, 31)) > 0


def test_an_addon_that_would_end_before_it_starts_is_refused(session, home):
    new, base, fast, _ = home
    tied = create_service(
        session, price=310_00, name="IP", requires_tariff=base, starts=AddonStart.TOMORROW
    )
    later = create_tariff(session, price=700_00, group=fast.group)  # next month
    change(session, new.account, later, date(2026, 1, 31))  # takes effect on 1 February
    with pytest.raises(catalog.AddonRefused):
        addons.connect(session, new.account.id, tied.id, date(2026, 1, 31), person_id=1)
    assert all(s.service_id != tied.id for s in new.account.subscriptions)


def test_cancelling_the_change_lets_an_addon_connected_meanwhile_run_on(session, home):
    new, base, _, later = home
    tied = create_service(session, price=310_00, name="IP", requires_tariff=base)
    made = change(session, new.account, later, date(2026, 1, 20))
    connected = addons.connect(
        session, new.account.id, tied.id, date(2026, 1, 22), person_id=new.person.id
    )
    tc.cancel(session, new.account.id, made.id, date(2026, 1, 23), person_id=new.person.id)
    session.refresh(connected)
    assert connected.ended_on is None


def cancelled_event(session, account_id) -> AuditEvent:
    return session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.event == tc.CANCELLED, AuditEvent.account_id == account_id
        )
    ).one()


def test_cancelling_the_change_brings_back_an_addon_it_removed_before_its_start(session, home):
    """Connected on the eve of a next-month change to start on its day, the add-on is
    removed by the change (it would never run); cancelling the change connects it again
    as it was, its promotional price included, and gives the fee back: nothing lost,
    nothing charged twice."""
    new, base, _, later = home
    account, eve = new.account, date(2026, 1, 31)
    tied = create_service(
        session, price=310_00, name="IP", requires_tariff=base, starts=AddonStart.TOMORROW
    )
    run(session, date(2026, 1, 1), eve)
    connected = addons.connect(session, account.id, tied.id, eve, person_id=new.person.id)
    connected.price_override, connected.price_override_until = 100_00, date(2026, 3, 31)
    session.flush()
    balance = account.balance
    made = change(session, account, later, eve)
    assert made.fee == 100_00
    assert all(s.service_id != tied.id for s in account.subscriptions)
    cancelled = tc.cancel(session, account.id, made.id, eve, person_id=new.person.id)
    session.expire_all()
    (back,) = [s for s in account.subscriptions if s.service_id == tied.id]
    assert [s.id for s in cancelled.addons] == [back.id]
    assert (back.started_on, back.ended_on) == (date(2026, 2, 1), None)
    assert (back.price_override, back.price_override_until) == (100_00, date(2026, 3, 31))
    assert account.balance == balance  # the fee went and came back
    run(session, date(2026, 2, 1), date(2026, 2, 28))
    assert addon_charged(session, back.id, date(2026, 2, 1), date(2026, 2, 28)) == 100_00
    assert charged(session, account.id, date(2026, 2, 1), date(2026, 2, 28)) == 310_00 + 100_00
    assert cancelled_event(session, account.id).data["after"]["addons"] == [tied.code]
    assert ledger.inconsistent_accounts(session) == []


def test_cancelling_the_change_records_the_addons_back_as_the_change_records_them_gone(
    session, with_addon
):
    new, later, tied, free = with_addon
    made = change(session, new.account, later, date(2026, 1, 20))
    cancelled = tc.cancel(
        session, new.account.id, made.id, date(2026, 1, 21), person_id=new.person.id
    )
    assert cancelled.change.id == made.id and cancelled.addons == [tied]
    event = cancelled_event(session, new.account.id)
    assert event.actor == f"person:{new.person.id}"
    assert (event.data["before"]["addons"], event.data["after"]["addons"]) == (
        [],
        [tied.service.code],
    )
    # Nothing to bring back: the event says nothing of add-ons, as the change's does not.
    made = change(session, new.account, later, date(2026, 1, 22))
    addons.disconnect(session, new.account.id, tied.id, date(2026, 1, 22), person_id=new.person.id)
    tc.cancel(session, new.account.id, made.id, date(2026, 1, 23), person_id=new.person.id)
    events = session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.event == tc.CANCELLED, AuditEvent.account_id == new.account.id)
        .order_by(AuditEvent.id)
    ).all()
    assert "addons" not in events[-1].data["after"]
    assert free.ended_on is None


def test_an_addon_the_subscriber_disconnected_meanwhile_does_not_come_back(session, with_addon):
    new, later, tied, _ = with_addon
    made = change(session, new.account, later, date(2026, 1, 20))
    addons.disconnect(session, new.account.id, tied.id, date(2026, 1, 25), person_id=new.person.id)
    cancelled = tc.cancel(
        session, new.account.id, made.id, date(2026, 1, 26), person_id=new.person.id
    )
    session.refresh(tied)
    assert tied.ended_on == date(2026, 1, 25)
    assert cancelled.addons == []
    run(session, date(2026, 1, 26), date(2026, 2, 28))
    assert addon_charged(session, tied.id, date(2026, 1, 26), date(2026, 2, 28)) == 0


def test_a_removed_addon_whose_place_the_subscriber_gave_to_another_does_not_come_back(
    session, home
):
    """Removed by the change, the add-on made room for one it excludes, which the
    subscriber connected meanwhile: the subscriber's choice stands, the two never run
    together."""
    new, base, _, later = home
    account, eve = new.account, date(2026, 1, 31)
    tied = create_service(
        session, price=310_00, name="IP", requires_tariff=base, starts=AddonStart.TOMORROW
    )
    rival = create_service(session, price=31_00, name="Другой IP", starts=AddonStart.TOMORROW)
    tied.excludes_later.append(rival)
    session.flush()
    addons.connect(session, account.id, tied.id, eve, person_id=new.person.id)
    made = change(session, account, later, eve)
    chosen = addons.connect(session, account.id, rival.id, eve, person_id=new.person.id)
    cancelled = tc.cancel(session, account.id, made.id, eve, person_id=new.person.id)
    assert cancelled.addons == []
    session.expire_all()
    assert [s.id for s in account.subscriptions if s.service_id] == [chosen.id]


def test_a_change_ends_and_remembers_only_the_addons_it_ends(session, home, with_addon):
    """The ids a change keeps are of subscriptions it ended, never of one it removed
    (SQLite may give a removed row's id to the next row, the new tariff's)."""
    new, base, _, later = home
    eve = date(2026, 1, 31)
    soon = create_service(
        session, price=310_00, name="ТВ", requires_tariff=base, starts=AddonStart.TOMORROW
    )
    addons.connect(session, new.account.id, soon.id, eve, person_id=new.person.id)
    made = change(session, new.account, later, eve)
    assert made.ended_addon_ids == [with_addon[2].id]
    assert [a["service_id"] for a in made.removed_addons] == [soon.id]


@pytest.mark.parametrize("run_first", [False, True], ids=["before the run", "after the run"])
@pytest.mark.parametrize("today", [date(2026, 1, 10), date(2026, 1, 31)], ids=str)
def test_an_addon_from_today_is_charged_for_today_once_whenever_the_run_is(
    session, home, today, run_first
):
    """ "Starts today" is charged from today: connected after today's run, today's share
    is charged under the run's key, as a tariff change today is, and never twice."""
    new, _, _, _ = home
    tv = create_service(session, price=310_00, name="ТВ", starts=AddonStart.TODAY)
    run(session, today.replace(day=1), today - timedelta(days=1))
    if run_first:
        run(session, today, today)
    connected = addons.connect(session, new.account.id, tv.id, today, person_id=new.person.id)
    assert connected.started_on == today
    end = date(2026, 1, 31)
    run(session, today, end)
    assert addon_charged(session, connected.id, today, end) == share(310_00, today, end)
    assert ledger.inconsistent_accounts(session) == []


# Pauses of any length from today, free: the tests below pause on the day they change.
PAUSE_TERMS = suspension.Terms(
    min_days=1,
    max_days=90,
    daily_fee=0,
    activation_fee=0,
    year_days=90,
    min_interval_days=0,
    ahead_days=30,
)


def test_an_addon_from_today_is_not_charged_for_a_day_the_run_left_uncharged(session, home):
    """A paused day is charged nothing of the monthly prices: an add-on connected on it
    after the run, suspended or resumed early (today stays paused), is not charged for it."""
    new, _, _, _ = home
    today = date(2026, 1, 10)
    tv = create_service(session, price=310_00, name="ТВ", starts=AddonStart.TODAY)
    radio = create_service(session, price=31_00, name="Радио", starts=AddonStart.TODAY)
    run(session, date(2026, 1, 1), today)
    actor = f"person:{new.person.id}"
    paused = suspension.request(
        session, new.account.id, today, today + timedelta(days=5), today, PAUSE_TERMS, actor=actor
    )
    connected = addons.connect(session, new.account.id, tv.id, today, person_id=new.person.id)
    suspension.resume(session, new.account.id, paused.id, today, block_threshold=0, actor=actor)
    assert new.account.status is AccountStatus.ACTIVE
    resumed = addons.connect(session, new.account.id, radio.id, today, person_id=new.person.id)
    assert addon_charged(session, connected.id, today, today) == 0
    assert addon_charged(session, resumed.id, today, today) == 0
    assert ledger.inconsistent_accounts(session) == []


@pytest.mark.parametrize("pause_first", [False, True], ids=["change, pause", "pause, change"])
def test_a_change_today_on_a_day_paused_after_the_run_leaves_it_uncharged(
    session, home, pause_first
):
    """Paused from today after today's run, and the tariff changed today: today is
    charged nothing of the monthly prices, in either order."""
    new, _, fast, _ = home
    today = date(2026, 1, 15)
    run(session, date(2026, 1, 1), today)
    actor = f"person:{new.person.id}"

    def pause():
        suspension.request(
            session,
            new.account.id,
            today,
            today + timedelta(days=5),
            today,
            PAUSE_TERMS,
            actor=actor,
        )

    if pause_first:
        pause()
    change(session, new.account, fast, today)
    if not pause_first:
        pause()
    assert charged(session, new.account.id, today, today) == 0
    assert ledger.inconsistent_accounts(session) == []
