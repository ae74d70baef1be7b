"""Template filters: every code has words, in the reader's language; sums keep their sign."""

import pytest

from portal.models import AccountStatus, EntryKind, SmsStatus, TariffKind
from portal.web import filters


@pytest.mark.parametrize(
    ("table", "codes"),
    [
        (filters.ACCOUNT_STATUSES, AccountStatus),
        (filters.ENTRY_KINDS, EntryKind),
        (filters.TARIFF_KINDS, TariffKind),
        (filters.SMS_STATUSES, SmsStatus),
    ],
)
def test_every_code_has_a_label(table, codes):
    assert set(table) == set(codes)


def test_labels_follow_the_readers_language(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert filters.account_status(AccountStatus.BLOCKED) == "Blocked for debt"
        assert filters.sms_status("failed") == "not sent"
    with app.test_request_context(headers={"Accept-Language": "ru"}):
        assert filters.entry_kind(EntryKind.PAYMENT) != "Payment"


def test_signed_sums_and_the_top_up_parameter(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert filters.rub_signed(500_00) == "+500.00\xa0RUB"
        assert filters.rub_signed(-16_00) == "-16.00\xa0RUB"
    assert filters.top_up_roubles(480_00) == 480
    assert filters.top_up_roubles(0) is None and filters.top_up_roubles(-5_00) is None
