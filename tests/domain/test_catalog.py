"""The catalogue as an account sees it (one query behind the tariffs, add-ons and home
pages), and the rules a tariff change and a new add-on follow."""

from datetime import date

import pytest

from portal import clock
from portal.domain import catalog, catalog_keeping
from portal.models import AddonStart, Service, TakesEffect, Tariff, TariffKind
from tests.factories import create_group, create_service, create_subscriber, create_tariff

TODAY = date(2026, 12, 1)


def test_offer_lists_what_the_account_has_today_and_the_public_catalogue(session):
    cheap, dear = create_tariff(session, price=300_00), create_tariff(session, price=900_00)
    tv = create_tariff(session, price=100_00, kind=TariffKind.TV)
    hidden = create_tariff(session, price=50_00)
    new = create_subscriber(session, tariffs=[dear, hidden], start=date(2026, 11, 1))
    hidden.archived_at = clock.now()

    offer = catalog.offer(session, new.account, Tariff, TODAY)

    assert offer.connected == [dear, hidden]  # an archived tariff still counts as held
    listed = [t for t in offer.catalogue if t in (cheap, dear, tv, hidden)]
    assert listed == [cheap, dear, tv]  # internet first, cheapest first; not the hidden one
    assert dear not in offer.others and cheap in offer.others


def test_an_ended_subscription_is_not_connected(session):
    ip, tv_box = create_service(session, price=150_00), create_service(session, price=90_00)
    new = create_subscriber(session, services=[ip, tv_box], start=date(2026, 11, 1))
    new.account.subscriptions[1].ended_on = date(2026, 11, 30)

    offer = catalog.offer(session, new.account, Service, TODAY)

    assert offer.connected == [ip]
    assert tv_box in offer.others and ip not in offer.others
    now = catalog.connected(new.account, TODAY)
    assert now.addons == [ip] and now.tariffs == [] and len(now.subscriptions) == 1


# --- the rules a tariff change and a new add-on follow ---------------------------------


@pytest.fixture
def home(session):
    """An internet group with fees by direction, and three of its tariffs."""
    group = create_group(session, fees=(50_00, 100_00, 25_00), changes_per_month=1)
    cheap = create_tariff(session, group=group, price=400_00)
    other_cheap = create_tariff(session, group=group, price=400_00)
    dear = create_tariff(session, group=group, price=800_00)
    return group, cheap, other_cheap, dear


def test_a_tariff_may_be_changed_for_another_live_one_of_its_group(session, home):
    _group, cheap, other_cheap, dear = home
    elsewhere = create_tariff(session, group=create_group(session))
    loner = create_tariff(session)
    assert catalog.may_change(cheap, dear) and catalog.may_change(dear, other_cheap)
    refusals = {
        "same": (cheap, cheap),
        "other_group": (cheap, elsewhere),
        "no_group": (loner, cheap),
    }
    for why, (current, target) in refusals.items():
        assert not catalog.may_change(current, target)
        assert catalog.change_refusal(current, target) == why
    assert catalog.change_refusal(cheap, loner) == "other_group"


def test_an_archived_tariff_is_no_target_but_may_be_left(session, home):
    _group, cheap, _other, dear = home
    dear.archived_at = clock.now()
    assert catalog.change_refusal(cheap, dear) == catalog.ChangeRefusal.ARCHIVED
    assert catalog.may_change(dear, cheap)  # moving off an archived tariff is the point


def test_the_fee_follows_the_direction_of_the_change(session, home):
    _group, cheap, other_cheap, dear = home
    assert catalog.change_fee(cheap, dear) == 50_00
    assert catalog.change_fee(dear, cheap) == 100_00
    assert catalog.change_fee(cheap, other_cheap) == 25_00
    assert catalog.change_direction(cheap, dear) is catalog.Direction.UP
    with pytest.raises(catalog.NotChangeable) as refused:
        catalog.change_fee(cheap, cheap)
    assert refused.value.why is catalog.ChangeRefusal.SAME


@pytest.mark.parametrize(
    ("takes_effect", "today", "expected"),
    [
        (TakesEffect.TODAY, date(2026, 11, 30), date(2026, 11, 30)),
        (TakesEffect.NEXT_MONTH, date(2026, 1, 31), date(2026, 2, 1)),
        (TakesEffect.NEXT_MONTH, date(2028, 2, 29), date(2028, 3, 1)),
        (TakesEffect.NEXT_MONTH, date(2026, 12, 1), date(2027, 1, 1)),
    ],
)
def test_a_change_takes_effect_today_or_on_the_first_of_next_month(
    session, takes_effect, today, expected
):
    tariff = create_tariff(session, takes_effect=takes_effect)
    assert catalog.change_takes_effect_on(tariff, today) == expected


def test_an_addon_starts_today_or_tomorrow(session):
    now = create_service(session, starts=AddonStart.TODAY)
    later = create_service(session, starts=AddonStart.TOMORROW)
    assert catalog.addon_starts_on(now, date(2026, 12, 31)) == date(2026, 12, 31)
    assert catalog.addon_starts_on(later, date(2026, 12, 31)) == date(2027, 1, 1)


def kinds(problems) -> list[tuple[str, object]]:
    return [(p.kind.value, p.item) for p in problems]


def test_an_addon_with_no_rules_can_be_connected(session):
    assert catalog.addon_problems([], [], create_service(session)) == []


def test_an_addon_that_requires_a_group_needs_a_tariff_of_it(session, home):
    group, cheap, _other, _dear = home
    ip = create_service(session, requires_group=group)
    outsider = create_tariff(session, group=create_group(session))
    assert kinds(catalog.addon_problems([outsider], [], ip)) == [("requires_group", group)]
    assert catalog.addon_problems([outsider, cheap], [], ip) == []
    cheap.archived_at = clock.now()  # the account still has it: the requirement holds
    assert catalog.addon_problems([cheap], [], ip) == []


def test_an_addon_that_requires_a_tariff_needs_that_tariff(session, home):
    _group, cheap, other_cheap, _dear = home
    box = create_service(session, requires_tariff=cheap)
    assert kinds(catalog.addon_problems([other_cheap], [], box)) == [("requires_tariff", cheap)]
    assert catalog.addon_problems([cheap], [], box) == []


def test_exclusions_hold_both_ways_and_every_reason_is_given(session):
    basic, family, other = (create_service(session) for _ in range(3))
    catalog_keeping.set_exclusions(basic, [family])
    session.flush()
    assert catalog.excluded(basic) == [family] and catalog.excluded(family) == [basic]
    assert kinds(catalog.addon_problems([], [basic, other], family)) == [("excluded", basic)]
    assert kinds(catalog.addon_problems([], [family], basic)) == [("excluded", family)]
    basic.archived_at = clock.now()
    assert kinds(catalog.addon_problems([], [basic, family], basic)) == [
        ("archived", None),
        ("connected", None),
        ("excluded", family),
    ]


def test_a_new_contract_follows_the_addon_rules(session, home):
    group, cheap, _other, _dear = home
    ip = create_service(session, requires_group=group)
    basic, family = create_service(session), create_service(session)
    catalog_keeping.set_exclusions(basic, [family])
    with pytest.raises(catalog.AddonRefused) as refused:
        create_subscriber(session, services=[ip])
    assert refused.value.addon is ip
    assert kinds(refused.value.problems) == [("requires_group", group)]
    with pytest.raises(catalog.AddonRefused) as refused:
        create_subscriber(session, tariffs=[cheap], services=[basic, family])
    assert kinds(refused.value.problems) == [("excluded", family)]
    held = create_subscriber(session, tariffs=[cheap], services=[ip, basic])
    assert catalog.connected(held.account, date(2026, 1, 1)).addons == [ip, basic]
