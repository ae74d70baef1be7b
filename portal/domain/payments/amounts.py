"""Reading a sum of money typed by a person, strictly, into kopecks.

Accepted: "1500", "1500.50", "1500,50", "1 500", "1 500,5", "1500 ₽", "1500 руб".
Refused, each with its own error: empty, NaN, exponents, signs, three decimals, zero,
other currencies, sums out of the limits. Never goes through float.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from portal.domain.payments.errors import (
    AmountMalformed,
    AmountMissing,
    AmountNotPositive,
    AmountTooLarge,
    AmountTooPrecise,
    AmountTooSmall,
    CurrencyNotAccepted,
)

DEFAULT_MIN = 10_00  # 10 ₽
DEFAULT_MAX = 100_000_00  # 100 000 ₽
MAX_TEXT = 32

# Spaces people and phones put between thousands: space, no-break, narrow no-break, thin.
_GROUP_SPACES = " \u00a0\u202f\u2009"
_ROUBLE_SUFFIX = re.compile(r"\s*(₽|руб\.?|р\.?|rub|RUB)\s*$", re.IGNORECASE)
_OTHER_CURRENCY = re.compile(r"[$€£¥₴₸]|\b(usd|eur|gbp|cny|uah|kzt|byn)\b", re.IGNORECASE)
# Whole part: plain digits, or groups of three separated by one space of any kind.
_NUMBER = re.compile(
    rf"^(?P<whole>[0-9]+|[0-9]{{1,3}}(?:[{_GROUP_SPACES}][0-9]{{3}})+)(?:[.,](?P<frac>[0-9]+))?$"
)


@dataclass(frozen=True)
class Limits:
    """The smallest and the largest sum of one payment, kopecks (both allowed)."""

    minimum: int = DEFAULT_MIN
    maximum: int = DEFAULT_MAX

    @classmethod
    def from_config(cls, config: Mapping) -> "Limits":
        return cls(int(config["PORTAL_PAYMENT_MIN"]), int(config["PORTAL_PAYMENT_MAX"]))

    def allow(self, kopecks: int) -> bool:
        return self.minimum <= kopecks <= self.maximum

    def parse(self, text: str | None) -> int:
        """The typed sum in kopecks within these limits (an AmountError if not)."""
        return parse_amount(text, minimum=self.minimum, maximum=self.maximum)


def parse_amount(
    text: str | None, *, minimum: int = DEFAULT_MIN, maximum: int = DEFAULT_MAX
) -> int:
    """The sum in kopecks, or an AmountError subclass saying what is wrong."""
    value = (text or "").strip()
    if not value:
        raise AmountMissing("no amount")
    if len(value) > MAX_TEXT:
        raise AmountMalformed("too long")
    if _OTHER_CURRENCY.search(value):
        raise CurrencyNotAccepted(value)
    value = _ROUBLE_SUFFIX.sub("", value)
    if value.startswith("-") or value.startswith("\u2212"):
        raise AmountNotPositive(value)
    match = _NUMBER.match(value)
    if not match:
        raise AmountMalformed(value)
    whole = int(re.sub(f"[{_GROUP_SPACES}]", "", match["whole"]))
    frac = match["frac"] or ""
    if len(frac) > 2:
        raise AmountTooPrecise(value)
    kopecks = whole * 100 + int(frac.ljust(2, "0") or 0)
    if kopecks == 0 and minimum > 0:  # minimum=0 takes a zero (a free add-on, no fee)
        raise AmountNotPositive(value)
    if kopecks < minimum:
        raise AmountTooSmall(value)
    if kopecks > maximum:
        raise AmountTooLarge(value)
    return kopecks


def format_plain(kopecks: int) -> str:
    """Kopecks as the form shows a sum: "1500" or "1500.50" (parse_amount reads it back)."""
    roubles, rest = divmod(kopecks, 100)
    return f"{roubles}.{rest:02d}" if rest else str(roubles)


def decimal_text(kopecks: int) -> str:
    """Kopecks as acquirers' APIs write a sum: "1500.00"."""
    return f"{kopecks // 100}.{kopecks % 100:02d}"
