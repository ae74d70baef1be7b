"""Sums typed by people: read strictly into kopecks, each refusal with its own error."""

import pytest

from portal.domain.payments import amounts
from portal.domain.payments.errors import (
    AmountMalformed,
    AmountMissing,
    AmountNotPositive,
    AmountTooLarge,
    AmountTooPrecise,
    AmountTooSmall,
    CurrencyNotAccepted,
)


@pytest.mark.parametrize(
    "text, kopecks",
    [
        ("1500", 150000),
        ("1500.50", 150050),
        ("1500,50", 150050),
        ("1500,5", 150050),
        ("1 500", 150000),
        ("1\u00a0500,25", 150025),
        ("100\u202f000", 10000000),
        ("  480 ", 48000),
        ("10", 1000),
        ("480 ₽", 48000),
        ("480 руб.", 48000),
        ("0010", 1000),
    ],
)
def test_accepted_sums(text, kopecks):
    assert amounts.parse_amount(text) == kopecks


@pytest.mark.parametrize(
    "text, error",
    [
        ("", AmountMissing),
        ("   ", AmountMissing),
        (None, AmountMissing),
        ("NaN", AmountMalformed),
        ("nan", AmountMalformed),
        ("inf", AmountMalformed),
        ("1e9", AmountMalformed),
        ("1E3", AmountMalformed),
        ("0x10", AmountMalformed),
        ("+100", AmountMalformed),
        ("1.000.000", AmountMalformed),
        ("1 50", AmountMalformed),
        ("12.5.1", AmountMalformed),
        ("сто", AmountMalformed),
        ("١٢٣", AmountMalformed),  # digits of another script
        ("9" * 40, AmountMalformed),
        ("12,345", AmountTooPrecise),
        ("100.001", AmountTooPrecise),
        ("-5", AmountNotPositive),
        ("−5", AmountNotPositive),
        ("0", AmountNotPositive),
        ("0,00", AmountNotPositive),
        ("9.99", AmountTooSmall),
        ("100000.01", AmountTooLarge),
        ("1000000000", AmountTooLarge),
        ("100 USD", CurrencyNotAccepted),
        ("$100", CurrencyNotAccepted),
        ("100 €", CurrencyNotAccepted),
    ],
)
def test_refused_sums(text, error):
    with pytest.raises(error):
        amounts.parse_amount(text)


def test_limits_are_inclusive_and_configurable():
    assert amounts.parse_amount("100000") == 100_000_00
    assert amounts.parse_amount("5", minimum=500) == 500
    with pytest.raises(AmountTooLarge):
        amounts.parse_amount("51", maximum=50_00)


@pytest.mark.parametrize("kopecks", [1000, 48000, 150050, 150005, 10000000])
def test_format_plain_reads_back(kopecks):
    assert amounts.parse_amount(amounts.format_plain(kopecks)) == kopecks
