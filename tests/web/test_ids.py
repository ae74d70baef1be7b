"""Ids past the database's integer range (finding 5): every route with a whole number in
its path answers 404 to one the database cannot hold, on SQLite and PostgreSQL alike,
and a query-string id out of range is an ignored filter. The routes are read from the
app's URL map, so a new route with an id is covered without touching this file."""

import re

import pytest
from werkzeug.routing.converters import NumberConverter

from portal.web.ids import MAX_ID, IdConverter
from tests.conftest import csrf_from
from tests.factories import PASSWORD, create_subscriber

# Just past PostgreSQL's integer, past SQLite's (and PostgreSQL's bigint), past 64 bits.
OUT_OF_RANGE = [2**31, 2**63, 2**64]


def routes_with_ids(app):
    """(rule, the names of its whole-number parts) for every rule that has one."""
    found = []
    for rule in app.url_map.iter_rules():
        numbers = [n for n, conv in rule._converters.items() if isinstance(conv, NumberConverter)]
        if numbers:
            found.append((rule, numbers))
    return found


def path_with(rule, numbers, value) -> str:
    """The rule's path with `value` in every number part and "x" in any other part."""

    def fill(match):
        return str(value) if match.group("name") in numbers else "x"

    return re.sub(r"<(?:[^:<>]+:)?(?P<name>[^<>]+)>", fill, rule.rule)


@pytest.fixture
def signed_in(session, auth):
    create_subscriber(session, login="ids")
    session.commit()
    auth.login("ids", PASSWORD)


def test_the_id_routes_are_found(app):
    # The table below must not pass by being empty: the payment pages have ids.
    paths = {rule.rule for rule, _ in routes_with_ids(app)}
    assert {"/pay/<id:payment_id>", "/pay/<id:payment_id>/receipt"} <= paths


def test_every_whole_number_in_a_path_is_a_row_id(app):
    """Routes take ids with <id:...>, which stops at the database's range (a plain <int:>
    lets 2**63 through to the database)."""
    for rule, numbers in routes_with_ids(app):
        for name in numbers:
            assert isinstance(rule._converters[name], IdConverter), f"{rule.rule}: <int:{name}>"


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_an_id_out_of_range_is_a_404_on_every_route(client, signed_in, value):
    headers = {"X-CSRFToken": csrf_from(client.get("/").get_data(as_text=True))}
    answers = {}
    for rule, numbers in routes_with_ids(client.application):
        path = path_with(rule, numbers, value)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answers[f"{method} {path}"] = client.open(path, method=method, headers=headers)
    assert answers
    wrong = {call: a.status_code for call, a in answers.items() if a.status_code != 404}
    assert not wrong


def test_the_largest_id_is_an_ordinary_404(client, signed_in):
    # No such payment, but a number the database can look up.
    assert client.get(f"/pay/{MAX_ID}").status_code == 404
    assert client.get(f"/pay/{MAX_ID}/receipt").status_code == 404


@pytest.mark.parametrize(
    "before", [str(2**31), str(2**63), str(2**64), "9" * 400, "0", "-1", "1e3", "١٢", " 5"]
)
def test_history_refuses_a_cursor_that_is_no_id(client, signed_in, before):
    answer = client.get("/history/", query_string={"before": before})
    assert answer.status_code == 400  # a clear message, never a database error
    assert 'role="alert"' in answer.get_data(as_text=True)
