"""What a history entry is for, in the reader's language, drawn from its purpose (its
kind and ledger key, portal.domain.history.Purpose) when the page or the CSV is drawn:
the words stored with an entry were written in Russian, and the ledger is never
rewritten. What the provider wrote (a tariff's or an add-on's name, a correction's
reason) is shown beside, as written."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.domain.history import Entry, Purpose
from portal.models import PaymentMethod
from portal.web.filters import entry_kind

# The purposes said in words of their own alone (the stored words are ours, in Russian).
WORDS = {
    Purpose.MONTHLY_FEE: _l("Monthly fee for the day"),
    Purpose.PROMISED: _l("Promised payment"),
    Purpose.PROMISED_FEE: _l("Promised payment fee"),
    Purpose.PROMISED_BACK: _l("Promised payment taken back"),
    Purpose.PAUSE_FEE: _l("Fee to pause the services"),
    Purpose.PAUSE_FEE_BACK: _l("Fee to pause the services returned"),
    Purpose.PAUSE_DAY_BACK: _l("The day's charges returned for the pause"),
    Purpose.PAUSED_DAY: _l("Fee for a paused day"),
    Purpose.TARIFF_CHANGE_FEE: _l("Tariff change fee"),
    Purpose.TARIFF_CHANGE_FEE_BACK: _l("Tariff change fee returned"),
    Purpose.TARIFF_CHANGE_DAY_BACK: _l("The day's fee returned on a tariff change"),
}
# The purposes whose stored words are the provider's (names, a reason): shown beside.
PROVIDERS_WORDS = {
    Purpose.MONTHLY_FEE,
    Purpose.TARIFF_CHANGE_FEE,
    Purpose.TARIFF_CHANGE_FEE_BACK,
    Purpose.TARIFF_CHANGE_DAY_BACK,
    Purpose.CORRECTION,
}
ONLINE_PAYMENTS = {
    PaymentMethod.CARD: _l("Online payment by card"),
    PaymentMethod.SBP: _l("Online payment through SBP"),
}


def what(entry: Entry) -> tuple[str, str]:
    """The entry's line in the reader's language, and the provider's words beside it
    ("" when none). An entry the portal cannot name keeps its stored words."""
    beside = entry.description if entry.purpose in PROVIDERS_WORDS else ""
    if entry.purpose in WORDS:
        return str(WORDS[entry.purpose]), beside
    if entry.purpose is Purpose.CORRECTION:
        return entry_kind(entry.kind), beside
    if entry.purpose is Purpose.ONLINE_PAYMENT and entry.payment_method in ONLINE_PAYMENTS:
        return str(ONLINE_PAYMENTS[entry.payment_method]), ""
    if entry.purpose is Purpose.REFUND and entry.refunded_payment_id is not None:
        return _("Refund of payment No. %(number)s", number=entry.refunded_payment_id), ""
    return entry.description or entry_kind(entry.kind), ""


def one_cell(entry: Entry) -> str:
    """The line and the words beside it as one text (the CSV's Description). A
    correction's is its reason alone: the Kind column says it is a correction."""
    line, beside = what(entry)
    if entry.purpose is Purpose.CORRECTION:
        return beside or line
    return f"{line}: {beside}" if beside else line
