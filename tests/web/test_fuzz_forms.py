"""Fuzzing every form of the portal: each awkward value in every field, then property-
based mixtures (hypothesis). Whatever is typed — any text, numbers past every limit,
impossible dates, control characters, several values for one field — sent as an ordinary
form or as multipart, no route answers with a 500.

The routes, who may post them and the field names come from test_form_bodies (from the
URL map and the form classes), so a new form is fuzzed without touching this file. On
both backends: PostgreSQL refuses what SQLite lets through (a string longer than its
column, an integer past 64 bits), and a refusal there must not become a 500 either."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import csrf_from
from tests.web.test_form_bodies import field_names, form_routes, sign_in_as, who_posts

# Values a hand would not think of, beside hypothesis's own text.
NASTY = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "NaN",
    "9" * 40,
    "-9223372036854775809",
    "2026-02-30",
    "0000-00-00",
    "31.12.9999",
    "\x00",
    "\u202e",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "%(name)s",
    "{{ 7*7 }}",
    "../../etc/passwd",
    "a" * 5000,
]
VALUES = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=200),
    st.integers().map(str),
    st.lists(st.sampled_from(NASTY), min_size=2, max_size=3),
)
# Examples per route of a group (each example picks one of the group's routes).
EXAMPLES_PER_ROUTE = 5


@pytest.mark.parametrize(
    "who", ["anonymous", "subscriber", "staff", "staff-admin", "staff-dispatcher", "staff-pending"]
)
def test_no_form_input_is_a_500(client, session, auth, who):
    page, ids = sign_in_as(client, session, auth, who)
    token = csrf_from(client.get(page).get_data(as_text=True))
    app = client.application
    paths = sorted(
        rule.build({n: ids.get(n, ids["account_id"]) for n in rule.arguments})[1]
        for endpoint, rule in form_routes(app)
        if who_posts(app, endpoint) == who
    )
    assert paths
    names = sorted(field_names())
    # Any of every form's fields, each present or not: a route reads its own among them.
    bodies = st.fixed_dictionaries({}, optional=dict.fromkeys(names, VALUES))
    failures = []

    @settings(
        max_examples=EXAMPLES_PER_ROUTE * len(paths),
        deadline=None,
        database=None,  # the same examples on every machine: a failure is found again
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(path=st.sampled_from(paths), body=bodies, multipart=st.booleans())
    def post(path, body, multipart):
        data = {**body, "csrf_token": token}
        kind = "multipart/form-data" if multipart else "application/x-www-form-urlencoded"
        answer = client.post(path, data=data, content_type=kind)
        if answer.status_code >= 500:
            failures.append((path, body, multipart, answer.status_code))
        assert answer.status_code < 500

    # First each awkward value in every field of every form, then hypothesis's mixtures.
    for path in paths:
        for value in NASTY:
            data = dict.fromkeys(names, value) | {"csrf_token": token}
            status = client.post(path, data=data).status_code
            if status >= 500:
                failures.append((path, value, status))
    assert failures == [], failures[:3]
    try:
        post()
    finally:
        assert failures == [], failures[:1]
