"""The catalogue in the console: the admin keeps it (forms, archive), operators,
accountants and marketing read it; bad input is a 400 naming the field, nothing written."""

import re

import pytest
import sqlalchemy as sa

from portal.domain import catalog_keeping
from portal.models import Account, AuditEvent, Service, StaffRole, Tariff, TariffGroup, TariffKind
from tests.conftest import csrf_from
from tests.factories import (
    create_group,
    create_service,
    create_staff,
    create_subscriber,
    create_tariff,
)
from tests.web.test_staff_console import StaffAuth

BASE = "/staff/catalogue"


def sign_in(client, session, role):
    member = create_staff(session, role=role)
    session.commit()
    assert StaffAuth(client).login(member.login, member=member).status_code == 303
    return member


@pytest.fixture
def admin(client, session):
    return sign_in(client, session, StaffRole.ADMIN)


@pytest.fixture
def catalogue(session):
    """A home internet group with two tariffs (one held twice), a TV tariff in no group,
    an add-on that requires the group and one it excludes."""
    home = create_group(session, fees=(0, 100_00, 0), changes_per_month=1, name="Домашний")
    city = create_tariff(session, group=home, price=650_00, name="Город", speed_mbps=200)
    fast = create_tariff(session, group=home, price=950_00, name="Максимум", speed_mbps=500)
    tv = create_tariff(session, kind=TariffKind.TV, price=250_00, name="ТВ Базовый", channels=90)
    ip = create_service(session, price=150_00, name="Статический IP", requires_group=home)
    other = create_service(session, price=99_00, name="Антивирус")
    catalog_keeping.set_exclusions(ip, [other])
    create_subscriber(session, tariffs=[city, tv], services=[ip])
    create_subscriber(session, tariffs=[city])
    session.commit()
    return {"home": home, "city": city, "fast": fast, "tv": tv, "ip": ip, "other": other}


def token(client, path=BASE + "/") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def errors_of(html: str) -> dict[str, str]:
    """Each field's error message on a form page."""
    return dict(re.findall(r'id="([a-z_]+)-error">([^<]+)<', html))


def last_event(session, name: str) -> AuditEvent:
    query = sa.select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id.desc())
    return session.scalars(query.limit(1)).one()


# --- reading -----------------------------------------------------------------------------


def test_the_lists_show_groups_tariffs_addons_prices_rules_and_holders(client, admin, catalogue):
    page = client.get(BASE + "/").get_data(as_text=True)
    internet, tv = page.split('id="kind-tv"')
    group = internet.split(f'id="group-{catalogue["home"].id}"')[1]
    assert "Домашний" in group and "100,00" in group  # the fee for a cheaper tariff
    city = group.split(f'id="tariff-{catalogue["city"].id}"')[1].split("</tr>")[0]
    assert "Город" in city and "650,00" in city and "200 Мбит/с" in city
    assert "<td>2</td>" in city  # two accounts have it
    assert "ТВ Базовый" in tv and "90 каналов" in tv and "Без группы" in tv

    addons = client.get(BASE + "/addons").get_data(as_text=True)
    ip = addons.split(f'id="addon-{catalogue["ip"].id}"')[1].split("</tr>")[0]
    assert "150,00" in ip and "«Домашний»" in ip and "Антивирус" in ip and "<td>1</td>" in ip


@pytest.mark.parametrize("role", [StaffRole.OPERATOR, StaffRole.ACCOUNTANT, StaffRole.MARKETING])
def test_readers_see_the_catalogue_but_change_nothing(client, session, catalogue, role):
    sign_in(client, session, role)
    for path in (BASE + "/", BASE + "/addons"):
        page = client.get(path)
        assert page.status_code == 200
        assert "Архивировать" not in page.get_data(as_text=True)
        assert f'href="{BASE}/tariffs/' not in page.get_data(as_text=True)
    assert "Каталог" in client.get("/staff/").get_data(as_text=True)
    csrf = token(client)
    tariff, group, ip = catalogue["city"], catalogue["home"], catalogue["ip"]
    refused = [
        client.get(f"{BASE}/tariffs/new"),
        client.get(f"{BASE}/tariffs/{tariff.id}"),
        client.post(f"{BASE}/tariffs/{tariff.id}", data={"csrf_token": csrf, "name": "x"}),
        client.post(
            f"{BASE}/tariffs/{tariff.id}/archive", data={"csrf_token": csrf, "archived": "yes"}
        ),
        client.post(
            f"{BASE}/groups/{group.id}/archive", data={"csrf_token": csrf, "archived": "yes"}
        ),
        client.post(f"{BASE}/addons/{ip.id}/archive", data={"csrf_token": csrf, "archived": "yes"}),
        client.post(f"{BASE}/groups/new", data={"csrf_token": csrf, "code": "x"}),
        client.post(f"{BASE}/addons/new", data={"csrf_token": csrf, "code": "x"}),
    ]
    assert [answer.status_code for answer in refused] == [403] * len(refused)
    session.expire_all()
    assert session.get(Tariff, tariff.id).archived_at is None


def test_a_dispatcher_does_not_open_the_catalogue(client, session, catalogue):
    sign_in(client, session, StaffRole.DISPATCHER)
    assert client.get(BASE + "/").status_code == 403
    assert client.get(BASE + "/addons").status_code == 403
    assert "Каталог" not in client.get("/staff/").get_data(as_text=True)


# --- groups ------------------------------------------------------------------------------


def test_the_admin_creates_a_group_and_it_is_audited(client, session, admin):
    form = {
        "csrf_token": token(client, BASE + "/groups/new"),
        "code": "TV-Home",
        "name": "Телевидение",
        "kind": "tv",
        "fee_up": "0",
        "fee_down": "50,50",
        "fee_same": "",
        "changes_per_month": "2",
    }
    answer = client.post(BASE + "/groups/new", data=form, environ_base={"REMOTE_ADDR": "192.0.2.5"})
    assert answer.status_code == 303
    group = session.scalars(sa.select(TariffGroup)).one()
    assert answer.headers["Location"] == f"{BASE}/#group-{group.id}"
    assert (group.code, group.kind, group.fee_down, group.fee_same) == ("tv-home", "tv", 50_50, 0)
    event = last_event(session, "catalog.group_created")
    assert event.actor == f"staff:{admin.id}" and event.address == "192.0.2.5"
    assert event.data["after"]["changes_per_month"] == 2
    assert "Создано: «Телевидение»" in client.get(answer.headers["Location"]).get_data(as_text=True)


def test_editing_a_group_changes_its_fees_not_its_kind(client, session, admin, catalogue):
    group = catalogue["home"]
    path = f"{BASE}/groups/{group.id}"
    page = client.get(path).get_data(as_text=True)
    assert 'value="100"' in page and 'name="kind"' not in page  # the kind is shown, not a field
    form = {
        "csrf_token": csrf_from(page),
        "code": group.code,
        "name": "Домашний",
        "kind": "tv",
        "fee_up": "10",
        "fee_down": "100",
        "fee_same": "0",
        "changes_per_month": "",
    }
    assert client.post(path, data=form).status_code == 303
    session.expire_all()
    group = session.get(TariffGroup, group.id)
    assert group.kind is TariffKind.INTERNET and group.fee_up == 10_00
    assert group.changes_per_month is None
    event = last_event(session, "catalog.group_changed")
    assert event.data["before"] == {"fee_up": 0, "changes_per_month": 1}
    assert event.data["after"] == {"fee_up": 10_00, "changes_per_month": None}


def test_a_group_with_offered_tariffs_is_not_archived(client, session, admin, catalogue):
    group = catalogue["home"]
    form = {"csrf_token": token(client), "archived": "yes"}
    answer = client.post(f"{BASE}/groups/{group.id}/archive", data=form)
    assert answer.status_code == 400
    assert "Сначала архивируйте тарифы группы: Город, Максимум." in answer.get_data(as_text=True)
    session.expire_all()
    assert session.get(TariffGroup, group.id).archived_at is None


# --- tariffs -----------------------------------------------------------------------------


# A new tariff's form as an admin fills it in (tests/web/test_form_fields.py too).
TARIFF_FORM = {
    "code": "net-turbo",
    "name": "Турбо",
    "kind": "internet",
    "group": "",
    "monthly_price": "1 200,50",
    "speed_mbps": "1000",
    "channels": "",
    "takes_effect": "today",
    "description": "До 1 Гбит/с",
}


def tariff_form(client, **changes) -> dict:
    return {"csrf_token": token(client, BASE + "/tariffs/new"), **TARIFF_FORM} | changes


def test_the_admin_creates_a_tariff_in_a_group(client, session, admin, catalogue):
    group = catalogue["home"]
    page = client.get(f"{BASE}/tariffs/new?group={group.id}").get_data(as_text=True)
    assert f'<option selected value="{group.id}">' in page
    answer = client.post(BASE + "/tariffs/new", data=tariff_form(client, group=str(group.id)))
    assert answer.status_code == 303
    tariff = session.scalars(sa.select(Tariff).where(Tariff.code == "net-turbo")).one()
    assert tariff.monthly_price == 1200_50 and tariff.group_id == group.id
    assert answer.headers["Location"] == f"{BASE}/#tariff-{tariff.id}"
    assert last_event(session, "catalog.tariff_created").data["after"]["monthly_price"] == 1200_50


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"code": ""}, "code", "Введите код."),
        ({"code": "турбо"}, "code", "Латинские буквы"),
        ({"name": "Я" * 101}, "name", "не больше 100"),
        ({"monthly_price": "много"}, "monthly_price", "Введите сумму в рублях"),
        ({"monthly_price": "1e5"}, "monthly_price", "Введите сумму в рублях"),
        ({"speed_mbps": "-1"}, "speed_mbps", "от 1 до 100000"),
        ({"channels": "90"}, "channels", "Оставьте пустым"),
        ({"kind": "radio"}, "kind", "Выберите из списка."),
        ({"group": "2147483648"}, "group", "Выберите из списка."),
        ({"takes_effect": "yesterday"}, "takes_effect", "Выберите из списка."),
    ],
)
def test_bad_tariff_input_is_a_400_naming_the_field(
    client, session, admin, catalogue, changes, field, message
):
    answer = client.post(BASE + "/tariffs/new", data=tariff_form(client, **changes))
    assert answer.status_code == 400
    assert message in errors_of(answer.get_data(as_text=True))[field]
    assert session.scalar(sa.select(Tariff.id).where(Tariff.code == "net-turbo")) is None


def test_every_problem_is_shown_at_once(client, admin, catalogue):
    form = tariff_form(client, code=catalogue["city"].code, name="", monthly_price="", kind="tv")
    answer = client.post(BASE + "/tariffs/new", data=form)
    assert answer.status_code == 400
    errors = errors_of(answer.get_data(as_text=True))
    assert errors["code"] == "Этот код уже занят."
    assert errors["name"] == "Введите название."
    assert errors["monthly_price"] == "Введите цену."
    assert errors["channels"] == "Введите число каналов."


def test_a_tv_tariff_cannot_join_an_internet_group(client, admin, catalogue):
    form = tariff_form(client, kind="tv", speed_mbps="", channels="120")
    form["group"] = str(catalogue["home"].id)
    answer = client.post(BASE + "/tariffs/new", data=form)
    assert answer.status_code == 400
    assert errors_of(answer.get_data(as_text=True))["group"] == "В этой группе тарифы другого вида."


def test_editing_a_tariff_audits_the_price_before_and_after(client, session, admin, catalogue):
    tariff = catalogue["city"]
    path = f"{BASE}/tariffs/{tariff.id}"
    page = client.get(path).get_data(as_text=True)
    assert 'value="650"' in page
    form = tariff_form(client, code=tariff.code, name="Город", group=str(tariff.group_id))
    form.update(monthly_price="700", speed_mbps="200", takes_effect="next_month", description="")
    assert client.post(path, data=form).status_code == 303
    event = last_event(session, "catalog.tariff_changed")
    assert event.data["before"] == {"monthly_price": 650_00}
    assert event.data["after"] == {"monthly_price": 700_00}
    # The same form again changes nothing and audits nothing.
    answer = client.post(path, data=form | {"csrf_token": token(client)})
    assert "Ничего не изменилось." in client.get(answer.headers["Location"]).get_data(as_text=True)
    assert last_event(session, "catalog.tariff_changed").id == event.id


def test_an_archived_tariff_is_kept_by_subscribers_and_not_offered(
    client, session, admin, catalogue
):
    tariff = catalogue["fast"]
    form = {"csrf_token": token(client), "archived": "yes"}
    answer = client.post(f"{BASE}/tariffs/{tariff.id}/archive", data=form)
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"#tariff-{tariff.id}")
    row = client.get(BASE + "/").get_data(as_text=True).split(f'id="tariff-{tariff.id}"')[1]
    assert "в архиве" in row.split("</tr>")[0] and "Предлагать снова" in row.split("</tr>")[0]
    onboarding = client.get("/staff/subscribers/new").get_data(as_text=True)
    assert "Максимум" not in onboarding and "Город" in onboarding
    assert last_event(session, "catalog.tariff_archived").data["before"] == {"archived_at": None}

    again = client.post(f"{BASE}/tariffs/{tariff.id}/archive", data=form | {"archived": "no"})
    assert again.status_code == 303
    session.expire_all()
    assert session.get(Tariff, tariff.id).archived_at is None


@pytest.mark.parametrize("archived", ["", "maybe", "YES"])
def test_an_archive_button_with_a_forged_value_is_a_400(
    client, session, admin, catalogue, archived
):
    form = {"csrf_token": token(client), "archived": archived}
    answer = client.post(f"{BASE}/tariffs/{catalogue['city'].id}/archive", data=form)
    assert answer.status_code == 400
    assert "Выберите, что сделать." in answer.get_data(as_text=True)
    session.expire_all()
    assert session.get(Tariff, catalogue["city"].id).archived_at is None


@pytest.mark.parametrize(
    "path",
    ["/tariffs/999999", "/groups/999999", "/addons/999999", "/tariffs/999999/archive"],
)
def test_an_unknown_item_is_a_404(client, admin, path):
    answer = (
        client.post(BASE + path, data={"csrf_token": token(client), "archived": "yes"})
        if path.endswith("archive")
        else client.get(BASE + path)
    )
    assert answer.status_code == 404


# --- add-ons -----------------------------------------------------------------------------


def addon_form(client, **changes) -> dict:
    form = {
        "csrf_token": token(client, BASE + "/addons/new"),
        "code": "tv-box",
        "name": "Приставка",
        "monthly_price": "100",
        "starts": "tomorrow",
        "requires": "",
        "description": "",
    }
    return form | changes


def test_the_admin_creates_an_addon_with_its_rules(client, session, admin, catalogue):
    tv, ip, other = catalogue["tv"], catalogue["ip"], catalogue["other"]
    form = addon_form(client, requires=f"tariff:{tv.id}", excludes=[str(ip.id), str(other.id)])
    answer = client.post(BASE + "/addons/new", data=form)
    assert answer.status_code == 303
    addon = session.scalars(sa.select(Service).where(Service.code == "tv-box")).one()
    assert answer.headers["Location"] == f"{BASE}/addons#addon-{addon.id}"
    assert addon.requires_tariff_id == tv.id
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    row = page.split(f'id="addon-{ip.id}"')[1].split("</tr>")[0]
    assert "Приставка" in row  # the exclusion shows from both sides
    event = last_event(session, "catalog.addon_created")
    assert event.data["after"]["excludes"] == sorted([ip.id, other.id])


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"requires": "group:999999"}, "requires", "Выберите из списка."),
        ({"requires": "tariff:1 OR 1=1"}, "requires", "Выберите из списка."),
        ({"excludes": ["999999"]}, "excludes", "Выберите из списка."),
        ({"starts": "never"}, "starts", "Выберите из списка."),
        ({"monthly_price": "100 $"}, "monthly_price", "Введите сумму в рублях"),
    ],
)
def test_bad_addon_input_is_a_400(client, session, admin, catalogue, changes, field, message):
    answer = client.post(BASE + "/addons/new", data=addon_form(client, **changes))
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    shown = errors_of(html).get(field) or re.search(r'class="field-error">([^<]+)<', html)[1]
    assert message in shown
    assert session.scalar(sa.select(Service.id).where(Service.code == "tv-box")) is None


def test_an_addon_cannot_exclude_itself(client, session, admin, catalogue):
    ip = catalogue["ip"]
    form = addon_form(client, code=ip.code, name=ip.name, excludes=[str(ip.id)])
    answer = client.post(f"{BASE}/addons/{ip.id}", data=form)
    assert answer.status_code == 400
    assert "Услуга не может исключать саму себя." in answer.get_data(as_text=True)


def test_editing_an_addon_keeps_its_exclusions_unless_changed(client, session, admin, catalogue):
    ip, other = catalogue["ip"], catalogue["other"]
    path = f"{BASE}/addons/{ip.id}"
    page = client.get(path).get_data(as_text=True)
    assert re.search(rf'checked[^>]*value="{other.id}"|value="{other.id}"[^>]*checked', page)
    form = addon_form(
        client,
        code=ip.code,
        name=ip.name,
        monthly_price="175",
        requires=f"group:{ip.requires_group_id}",
    )
    assert client.post(path, data=form | {"excludes": [str(other.id)]}).status_code == 303
    event = last_event(session, "catalog.addon_changed")
    assert event.data["before"] == {"monthly_price": 150_00}
    assert client.post(path, data=form | {"csrf_token": token(client)}).status_code == 303
    changed = last_event(session, "catalog.addon_changed")
    assert changed.data["before"] == {"excludes": [other.id]}
    assert changed.data["after"] == {"excludes": []}


def test_an_archived_addon_stays_listed_and_is_not_offered_at_onboarding(
    client, session, admin, catalogue
):
    other = catalogue["other"]
    form = {"csrf_token": token(client), "archived": "yes"}
    assert client.post(f"{BASE}/addons/{other.id}/archive", data=form).status_code == 303
    assert "Антивирус" in client.get(BASE + "/addons").get_data(as_text=True)
    assert "Антивирус" not in client.get("/staff/subscribers/new").get_data(as_text=True)
    assert last_event(session, "catalog.addon_archived").data["item_id"] == other.id


def test_a_form_fragment_for_htmx(client, admin, catalogue):
    answer = client.get(BASE + "/tariffs/new", headers={"HX-Request": "true"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and html.lstrip().startswith("<form")
    assert "<html" not in html


def test_an_expired_form_is_a_400_that_says_so(client, session, admin, catalogue):
    form = tariff_form(client) | {"csrf_token": "stale"}
    answer = client.post(BASE + "/tariffs/new", data=form)
    assert answer.status_code == 400
    assert "Страница устарела" in answer.get_data(as_text=True)
    assert session.scalar(sa.select(Tariff.id).where(Tariff.code == "net-turbo")) is None


def test_onboarding_follows_the_addon_rules(client, session, catalogue):
    from tests.web.test_staff_onboarding import NEW, contract_form

    sign_in(client, session, StaffRole.OPERATOR)
    ip, city = catalogue["ip"], catalogue["city"]
    answer = client.post(NEW, data=contract_form(client, addons=[ip.code]))
    assert answer.status_code == 400
    assert "«Статический IP»: нужен тариф группы «Домашний»." in answer.get_data(as_text=True)
    assert session.scalar(sa.select(Account.id).where(Account.contract_number == "77001")) is None
    answer = client.post(NEW, data=contract_form(client, internet=city.code, addons=[ip.code]))
    assert answer.status_code == 200  # the credentials sheet
