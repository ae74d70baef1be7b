"""Keeping the catalogue: what the staff type is checked field by field, every change is
audited with what it was and what it became, archiving keeps what subscribers hold."""

from datetime import date

import pytest
import sqlalchemy as sa

from portal import clock
from portal.domain import catalog, catalog_keeping, subscribers
from portal.domain.catalog_keeping import AddonInput, GroupInput, Invalid, Refused, TariffInput
from portal.domain.errors import InvalidInput
from portal.models import AuditEvent, TakesEffect, Tariff, TariffKind
from tests.factories import create_group, create_service, create_subscriber, create_tariff

WHO = {"actor": "staff:1", "address": "192.0.2.10"}
TODAY = date(2026, 11, 30)


def events(session, name: str) -> list[AuditEvent]:
    query = sa.select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)
    return list(session.scalars(query))


def group_input(**changes) -> GroupInput:
    values = {
        "code": "home",
        "name": "Домашний",
        "kind": "internet",
        "fee_up": "0",
        "fee_down": "100",
        "fee_same": "0",
        "changes_per_month": "1",
    }
    return GroupInput(**(values | changes))


def tariff_input(**changes) -> TariffInput:
    values = {
        "code": "net-fast",
        "name": "Быстрый",
        "kind": "internet",
        "monthly_price": "650,50",
        "description": "До 300 Мбит/с",
        "speed_mbps": "300",
        "takes_effect": "today",
    }
    return TariffInput(**(values | changes))


def addon_input(**changes) -> AddonInput:
    values = {"code": "static-ip", "name": "Статический IP", "monthly_price": "150"}
    return AddonInput(**(values | changes))


def test_a_group_is_created_with_fees_in_kopecks_and_audited(session):
    group = catalog_keeping.create_group(session, group_input(code=" Home "), **WHO)
    assert (group.code, group.kind, group.fee_down, group.changes_per_month) == (
        "home",
        TariffKind.INTERNET,
        100_00,
        1,
    )
    [event] = events(session, "catalog.group_created")
    assert event.actor == "staff:1" and event.address == "192.0.2.10"
    assert event.data["before"] == {}
    assert event.data["after"]["fee_down"] == 100_00 and event.data["after"]["kind"] == "internet"


def test_a_tariff_takes_its_price_from_a_roubles_text(session):
    group = create_group(session)
    tariff = catalog_keeping.create_tariff(
        session, tariff_input(group=str(group.id), monthly_price="1 650,50 ₽"), **WHO
    )
    assert tariff.monthly_price == 1650_50 and tariff.group is group
    assert tariff.takes_effect is TakesEffect.TODAY and tariff.speed_mbps == 300
    assert tariff in group.tariffs
    free = catalog_keeping.create_tariff(
        session, tariff_input(code="net-social", monthly_price="0"), **WHO
    )
    assert free.monthly_price == 0  # a free tariff is a price too


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({"code": ""}, {"code": "required"}),
        ({"code": "net fast"}, {"code": "code"}),
        ({"code": "x" * 33}, {"code": "code"}),
        ({"name": "  "}, {"name": "required"}),
        ({"name": "Я" * 101}, {"name": "too_long"}),
        ({"name": "Быс\x00трый"}, {"name": "unprintable"}),
        ({"description": "Я" * 501}, {"description": "too_long"}),
        ({"monthly_price": "шесть"}, {"monthly_price": "money"}),
        ({"monthly_price": "-5"}, {"monthly_price": "money"}),
        ({"monthly_price": "650,505"}, {"monthly_price": "money"}),
        ({"monthly_price": "2000000"}, {"monthly_price": "too_large"}),
        ({"speed_mbps": ""}, {"speed_mbps": "required"}),
        ({"speed_mbps": "0"}, {"speed_mbps": "number"}),
        ({"speed_mbps": "1e3"}, {"speed_mbps": "number"}),
        ({"speed_mbps": "٣٠٠"}, {"speed_mbps": "number"}),
        ({"channels": "90"}, {"channels": "not_for_kind"}),
        ({"kind": "radio"}, {"kind": "choice"}),
        ({"takes_effect": "someday"}, {"takes_effect": "choice"}),
        ({"group": "999999"}, {"group": "unknown"}),
        ({"group": "1 OR 1=1"}, {"group": "unknown"}),
        ({"group": str(2**31)}, {"group": "unknown"}),
        ({"group": str(2**64)}, {"group": "unknown"}),
        (
            {"code": "", "name": "", "monthly_price": ""},
            {"code": "required", "name": "required", "monthly_price": "required"},
        ),
    ],
)
def test_a_tariff_refuses_what_breaks_a_rule_and_writes_nothing(session, changes, problems):
    with pytest.raises(Invalid) as refused:
        catalog_keeping.create_tariff(session, tariff_input(**changes), **WHO)
    assert refused.value.problems == problems
    assert session.scalar(sa.select(sa.func.count(Tariff.id))) == 0
    assert events(session, "catalog.tariff_created") == []


def test_codes_are_unique_whatever_their_case(session):
    create_tariff(session).code = "net-fast"
    with pytest.raises(Invalid) as refused:
        catalog_keeping.create_tariff(session, tariff_input(code="NET-FAST"), **WHO)
    assert refused.value.problems == {"code": "code_taken"}
    # An add-on and a group have codes of their own.
    assert catalog_keeping.create_addon(session, addon_input(code="net-fast"), **WHO).id


def test_a_tariff_is_of_its_groups_kind(session):
    tv = create_group(session, kind=TariffKind.TV)
    with pytest.raises(Invalid) as refused:
        catalog_keeping.create_tariff(session, tariff_input(group=str(tv.id)), **WHO)
    assert refused.value.problems == {"group": "group_kind"}
    channels = tariff_input(kind="tv", speed_mbps="", channels="90", group=str(tv.id))
    assert catalog_keeping.create_tariff(session, channels, **WHO).group is tv


def test_editing_audits_only_what_changed_and_keeps_the_kind(session):
    group, other = create_group(session), create_group(session)
    tariff = catalog_keeping.create_tariff(session, tariff_input(group=str(group.id)), **WHO)
    same = tariff_input(group=str(group.id))
    assert catalog_keeping.update_tariff(session, tariff, same, **WHO) == []
    assert events(session, "catalog.tariff_changed") == []

    typed = tariff_input(kind="tv", monthly_price="700", group=str(other.id))
    changed = catalog_keeping.update_tariff(session, tariff, typed, **WHO)
    assert sorted(changed) == ["group_id", "monthly_price"]
    assert tariff.kind is TariffKind.INTERNET and tariff.group is other
    assert tariff not in group.tariffs and tariff in other.tariffs
    [event] = events(session, "catalog.tariff_changed")
    assert event.data["before"] == {"monthly_price": 650_50, "group_id": group.id}
    assert event.data["after"] == {"monthly_price": 700_00, "group_id": other.id}
    assert event.data["item_id"] == tariff.id and event.data["code"] == "net-fast"


def test_a_group_keeps_its_kind_and_checks_its_limits(session):
    group = catalog_keeping.create_group(session, group_input(), **WHO)
    catalog_keeping.update_group(session, group, group_input(kind="tv", name="Дом"), **WHO)
    assert group.kind is TariffKind.INTERNET and group.name == "Дом"
    bad = group_input(fee_up="-1", fee_same="abc", changes_per_month="32")
    with pytest.raises(Invalid) as refused:
        catalog_keeping.update_group(session, group, bad, **WHO)
    assert refused.value.problems == {
        "fee_up": "money",
        "fee_same": "money",
        "changes_per_month": "number",
    }
    no_limit = catalog_keeping.update_group(
        session, group, group_input(changes_per_month=""), **WHO
    )
    assert no_limit == ["name", "changes_per_month"] and group.changes_per_month is None


def test_an_archived_tariff_stays_on_its_subscribers_and_is_no_longer_offered(session):
    tariff = create_tariff(session)
    held = create_subscriber(session, tariffs=[tariff], start=date(2026, 11, 1))
    assert catalog_keeping.archive(session, tariff, **WHO) is True
    assert catalog_keeping.archive(session, tariff, **WHO) is False  # a double click: once
    assert catalog.connected(held.account, TODAY).tariffs == [tariff]
    assert tariff not in catalog.for_new_contract(session).internet
    with pytest.raises(InvalidInput, match="archived"):
        create_subscriber(session, tariffs=[tariff])
    [event] = events(session, "catalog.tariff_archived")
    assert event.data["before"] == {"archived_at": None}
    assert event.data["after"]["archived_at"] == tariff.archived_at.isoformat()

    assert catalog_keeping.unarchive(session, tariff, **WHO) is True
    assert tariff.archived_at is None and tariff in catalog.for_new_contract(session).internet
    [back] = events(session, "catalog.tariff_unarchived")
    assert back.data["after"] == {"archived_at": None}


def test_a_group_is_archived_after_its_tariffs_and_holds_no_live_one(session):
    group = create_group(session)
    tariff = create_tariff(session, group=group, name="Город")
    with pytest.raises(Refused) as refused:
        catalog_keeping.archive(session, group, **WHO)
    assert refused.value.why == "group_has_tariffs" and refused.value.names == ("Город",)
    catalog_keeping.archive(session, tariff, **WHO)
    assert catalog_keeping.archive(session, group, **WHO)
    with pytest.raises(Refused) as refused:
        catalog_keeping.unarchive(session, tariff, **WHO)
    assert refused.value.why == "group_archived"
    with pytest.raises(Invalid) as invalid:
        catalog_keeping.create_tariff(session, tariff_input(group=str(group.id)), **WHO)
    assert invalid.value.problems == {"group": "group_archived"}
    # The archived tariff may still be edited in its archived group.
    typed = tariff_input(code=tariff.code, name="Город", group=str(group.id), monthly_price="1")
    assert catalog_keeping.update_tariff(session, tariff, typed, **WHO)


def test_an_addon_requires_one_thing_and_excludes_others_but_not_itself(session):
    group = create_group(session)
    tariff = create_tariff(session, group=group)
    basic = create_service(session)
    addon = catalog_keeping.create_addon(
        session,
        addon_input(requires=f"group:{group.id}", excludes=(str(basic.id), str(basic.id))),
        **WHO,
    )
    assert addon.requires_group is group and catalog.excluded(basic) == [addon]
    [created] = events(session, "catalog.addon_created")
    assert created.data["after"]["excludes"] == [basic.id]

    typed = addon_input(requires=f"tariff:{tariff.id}", excludes=(str(addon.id),))
    with pytest.raises(Invalid) as refused:
        catalog_keeping.update_addon(session, addon, typed, **WHO)
    assert refused.value.problems == {"excludes": "self"}

    typed = addon_input(requires=f"tariff:{tariff.id}", starts="today")
    changed = catalog_keeping.update_addon(session, addon, typed, **WHO)
    assert sorted(changed) == ["excludes", "requires_group_id", "requires_tariff_id", "starts"]
    assert addon.requires_group is None and addon.requires_tariff is tariff
    assert catalog.excluded(basic) == [] and catalog.excluded(addon) == []
    [event] = events(session, "catalog.addon_changed")
    assert event.data["before"]["excludes"] == [basic.id] and event.data["after"]["excludes"] == []


@pytest.mark.parametrize(
    "requires", ["group:999999", "tariff:x", "router:1", "group:", f"tariff:{2**63}"]
)
def test_an_addon_refuses_a_requirement_that_does_not_exist(session, requires):
    with pytest.raises(Invalid) as refused:
        catalog_keeping.create_addon(session, addon_input(requires=requires), **WHO)
    assert refused.value.problems == {"requires": "unknown"}


def test_an_addon_cannot_newly_require_something_archived(session):
    group = create_group(session)
    group.archived_at = clock.now()
    with pytest.raises(Invalid) as refused:
        catalog_keeping.create_addon(session, addon_input(requires=f"group:{group.id}"), **WHO)
    assert refused.value.problems == {"requires": "requirement_archived"}
    # One that required it before the group was archived is still edited and archived...
    addon = create_service(session, requires_group=group)
    typed = addon_input(code=addon.code, requires=f"group:{group.id}", monthly_price="1")
    assert catalog_keeping.update_addon(session, addon, typed, **WHO)
    catalog_keeping.archive(session, addon, **WHO)
    # ...but not offered again while what it requires is archived.
    with pytest.raises(Refused) as refused_again:
        catalog_keeping.unarchive(session, addon, **WHO)
    assert refused_again.value.why == "requirement_archived"


def test_the_overview_counts_the_accounts_holding_each_item_today(session):
    group = create_group(session)
    net, idle = create_tariff(session, group=group), create_tariff(session, group=group)
    tv = create_tariff(session, kind=TariffKind.TV)
    ip = create_service(session)
    create_subscriber(session, tariffs=[net, tv], services=[ip], start=date(2026, 11, 1))
    create_subscriber(session, tariffs=[net], start=date(2026, 11, 1))
    left = create_subscriber(session, tariffs=[idle], start=date(2026, 11, 1))
    left.account.subscriptions[0].ended_on = date(2026, 11, 29)
    create_subscriber(session, tariffs=[idle], start=date(2026, 12, 1))  # not yet
    session.flush()

    seen = catalog_keeping.overview(session, TODAY)
    assert seen.tariff_holders == {net.id: 2, tv.id: 1}
    assert seen.group_holders == {group.id: 2} and seen.addon_holders == {ip.id: 1}
    assert seen.tariffs_of(TariffKind.INTERNET, group) == [net, idle]
    assert seen.tariffs_of(TariffKind.TV, None) == [tv] and seen.groups_of(TariffKind.TV) == []


def test_a_new_contract_gets_only_what_is_offered(session):
    addon = create_service(session)
    catalog_keeping.archive(session, addon, **WHO)
    with pytest.raises(InvalidInput, match="archived service"):
        subscribers.create_subscriber(
            session,
            contract_number="77001",
            name="Новый Абонент",
            phone="+7 978 700-00-01",
            service_codes=(addon.code,),
        )
